// What a new run of an ended sweep starts from (src/sweep/continuation.ts): which trials run again, what they keep,
// and the errors when there is nothing to run.
import test from 'ava';

import { continueSweep } from '../../src/sweep/continuation.js';
import type { SweepProgress, TrialState, TrialStatus } from '../../src/contract/types.js';

const trial = (key: string, state: TrialState, extra: Partial<TrialStatus> = {}): TrialStatus => ({
  key,
  params: { beta: 1 },
  seed: 0,
  state,
  step: 30,
  generation: 1,
  losses: { loss: 1 },
  metrics: {},
  startedAt: 1,
  ...extra,
});

const ended = (): SweepProgress => ({
  name: 'sw',
  state: 'cancelled',
  maxConcurrentTrials: 2,
  continuedAsNew: 0,
  parentRunId: 'p',
  trials: [
    trial('a', 'completed', { metrics: { mig: 0.5 }, endedAt: 9 }),
    trial('b', 'failed', { error: 'boom', endedAt: 9, checkpointUri: 'runs:/r/checkpoints/step-00000020', checkpointStep: 20 }),
    trial('c', 'running', { checkpointUri: 'runs:/r/checkpoints/step-00000025', checkpointStep: 25 }),
    trial('d', 'cancelled', { error: 'cancelled by request', endedAt: 9 }),
    trial('e', 'paused', { checkpointStep: 12, checkpointUri: '/x' }),
    { ...trial('f', 'pending'), startedAt: undefined } as TrialStatus,
  ],
});

test('resume runs again every trial that neither completed nor failed, each keeping what it continues from', (t) => {
  const before = ended();
  const { progress, queue } = continueSweep(before, { kind: 'resume' });
  t.deepEqual(queue, ['c', 'd', 'e', 'f']);
  t.is(progress.state, 'running');
  t.deepEqual(progress.trials.map((x) => x.state), ['completed', 'failed', 'pending', 'pending', 'pending', 'pending']);
  const c = progress.trials[2] as TrialStatus;
  t.is(c.step, 25, 'step back to the checkpoint it continues from');
  t.is(c.checkpointUri, 'runs:/r/checkpoints/step-00000025');
  t.is(c.generation, 1);
  t.is(progress.trials[3]?.error, undefined);
  t.is(progress.trials[3]?.endedAt, undefined);
  t.deepEqual(progress.trials[0], before.trials[0], 'a completed trial is kept as it was');
  t.is(before.trials[2]?.state, 'running', 'the ended run\'s progress is not changed');
});

test('retry runs failed trials again: the named ones or all', (t) => {
  t.deepEqual(continueSweep(ended(), { kind: 'retry', keys: [] }).queue, ['b']);
  const { progress } = continueSweep(ended(), { kind: 'retry', keys: ['b'] });
  t.is(progress.trials[1]?.state, 'pending');
  t.is(progress.trials[1]?.step, 20);
  t.is(progress.trials[2]?.state, 'running', 'retry leaves other unfinished trials as they ended');
});

test('nothing to run again, an unknown trial or one that did not fail: an error naming it', (t) => {
  const done = ended();
  done.trials.splice(2);
  t.throws(() => continueSweep(done, { kind: 'resume' }), {
    message: "sweep 'sw' has nothing to resume: 1 trial(s) completed, 1 failed; `dcign sweep retry sw` reruns the failed ones",
  });
  t.throws(() => continueSweep(ended(), { kind: 'retry', keys: ['zz'] }), { message: "sweep 'sw' has no trial 'zz'; `dcign sweep status sw` lists its trials" });
  t.throws(() => continueSweep(ended(), { kind: 'retry', keys: ['a'] }), { message: "trial 'a' of sweep 'sw' is completed, not failed; only failed trials are retried" });
  done.trials.splice(1);
  t.throws(() => continueSweep(done, { kind: 'retry', keys: [] }), { message: "sweep 'sw' has nothing to retry: 1 trial(s) completed, 0 failed" });
});
