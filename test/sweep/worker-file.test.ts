// The npz file of a sweep lives on the worker hosts: `sweep plan` and `sweep start` on a machine that lacks it warn,
// naming the path and that every worker host must hold it (src/sweep/worker-file.ts); nothing fails here, because the
// file is checked where it is opened. A worker that lacks it fails the trial at once naming the file and the host:
// test/workflows/early-stopping.test.ts ('a trial whose npz file its worker host lacks fails at once ...') covers that
// side with a real worker.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';
import { stringify } from 'yaml';

import { workerFileNotice } from '../../src/sweep/worker-file.js';

const run = promisify(execFile);
const CLI = path.resolve('dist/src/cli/main.js');
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function specFile(dataset: string): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dcign-worker-file-'));
  const file = path.join(dir, 'spec.yaml');
  const spec = { name: 'wf', dataset, model: { variant: 'beta-vae', imageSize: 64 }, train: { steps: 10, batchSize: 8 }, search: { grid: { beta: [1] }, seeds: [0] }, taskQueue: 'gpu-lab' };
  await writeFile(file, stringify(spec));
  return { dir, file };
}

test('the notice: a missing file is a warning naming the path, the host and the task queue; a present one a note', async (t) => {
  t.is(workerFileNotice(undefined, 'q'), undefined, 'a generated dataset needs no file');
  const missing = workerFileNotice('/nowhere/d.npz', 'gpu-lab');
  t.is(missing?.level, 'warning');
  t.regex(missing?.message ?? '', new RegExp(`^dataset file /nowhere/d\\.npz does not exist on this machine \\(${esc(hostname())}\\); every worker host on task queue gpu-lab must hold it at this path`));
  const { dir } = await specFile('dsprites-small');
  t.is(workerFileNotice(dir, 'q')?.level, 'warning', 'a folder is no npz file');
  const here = path.join(dir, 'd.npz');
  await writeFile(here, 'x');
  t.deepEqual(workerFileNotice(here, 'q')?.level, 'note');
  t.regex(workerFileNotice(here, 'q')?.message ?? '', /exists on this machine; every worker host on task queue q must hold it/);
});

test('`dcign sweep plan` and `sweep start` on a machine without the npz file warn, naming it; start says so before it connects', async (t) => {
  const npz = '/nonexistent-dcign-data/dsprites.npz';
  const { file } = await specFile(`npz:${npz}`);
  const warning = new RegExp(`^warning: dataset file ${esc(npz)} does not exist on this machine \\(.*\\); every worker host on task queue gpu-lab must hold it at this path, or its trials fail at once naming the file and the host$`, 'm');
  const plan = await run(process.execPath, [CLI, 'sweep', 'plan', file, '--measure-steps', '0']);
  t.regex(plan.stderr, warning);
  t.regex(plan.stdout, /worker file: every worker host on gpu-lab must hold \/nonexistent-dcign-data\/dsprites\.npz/);
  const json = await run(process.execPath, [CLI, 'sweep', 'plan', file, '--measure-steps', '0', '--format', 'json']);
  t.is((JSON.parse(json.stdout) as { workerFile: string }).workerFile, npz, 'stdout stays JSON, the warning goes to stderr');
  t.regex(json.stderr, warning);
  // Nothing listens on port 1: start fails to connect, after the warning.
  const start = await run(process.execPath, [CLI, 'sweep', 'start', file, '--address', '127.0.0.1:1'], { timeout: 60_000 }).then(
    () => undefined,
    (e: { stderr: string }) => e.stderr,
  );
  t.truthy(start, 'sweep start against a closed port succeeded');
  t.regex(start ?? '', warning);
  t.regex(start ?? '', /cannot reach Temporal at 127\.0\.0\.1:1/);
});
