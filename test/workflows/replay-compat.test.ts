// Workflows that started on the previous release's code must replay on this one: a worker upgraded while sweeps run
// re-executes their histories, and a command the old code did not issue is a nondeterminism error that stalls the
// sweep. test/fixtures/histories/<commit>/ holds complete histories recorded with that release's workflow code
// (`npm run record-histories`, test/helpers/record-histories.ts: completed, restarted, failed, paused with a trial
// added, cancelled, and continued-as-new sweeps, and their trials; from 696c685 on also ASHA stopping trials on rung
// evaluations). Every release directory there is replayed. A change that breaks one needs a patched() branch
// (as workflows/sweep-trials.ts has for pausing running trials).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import test from 'ava';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';

import { projectRoot } from '../../src/stack/paths.js';
import { bundle } from '../helpers/sweep-fixture.js';

const ROOT = path.join(projectRoot, 'test', 'fixtures', 'histories');

const RELEASES = readdirSync(ROOT).filter((d) => !d.includes('.'));

test('every recorded release is replayed, the oldest and the newest included', (t) => {
  t.true(RELEASES.includes('552ba30') && RELEASES.includes('696c685'), `release directories: ${RELEASES.join(', ')}`);
});

for (const release of RELEASES) {
  test(`histories recorded by release ${release} replay on this workflow code`, async (t) => {
    const dir = path.join(ROOT, release);
    const files = readdirSync(dir).filter((f) => f.endsWith('.binpb'));
    const histories = files.map((f) => ({ file: f, history: proto.temporal.api.history.v1.History.decode(readFileSync(path.join(dir, f))) }));
    const types = new Set(histories.map((h) => h.history.events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name));
    t.deepEqual([...types].sort(), ['sweepWorkflow', 'trialWorkflow'], 'both workflow types are covered');
    const code = await bundle();
    const failed: string[] = [];
    for (const { file, history } of histories) {
      try {
        await Worker.runReplayHistory({ workflowBundle: { code: code.code } }, history, file);
      } catch (err) {
        failed.push(`${file}: ${(err as Error).message.slice(0, 300)}`);
      }
    }
    t.deepEqual(failed, [], `${failed.length} of ${histories.length} histories did not replay`);
    t.true(histories.length >= 10, `${histories.length} histories`);
  });
}
