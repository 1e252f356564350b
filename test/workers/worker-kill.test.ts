// The worker as a real process (`dcign worker`), killed with SIGKILL mid-trial: its replicas die with it (no orphans),
// and the trial resumes from its last checkpoint on another worker, with no step twice in its final curve.
// Also the CLI against the same server: an invalid spec starts nothing; results come out as JSON.
import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';

import { startSweep } from '../../src/sweep/control.js';
import { trialCurveQuery, trialProgressQuery, trialWorkflowId } from '../../src/contract/index.js';
import { startTemporal, temporalAvailable } from '../helpers/temporal.js';
import type { TemporalTestServer } from '../helpers/temporal.js';
import { FAKE_REPLICA, bundle, replicaPids, smallSpec, startWorker, stillAliveAfter, tempDir, trainedSteps, waitFor, waitHeld } from '../helpers/sweep-fixture.js';

interface Ctx {
  server: TemporalTestServer;
  code: WorkflowBundleWithSourceMap;
  runRoot: string;
}
const test = anyTest as TestFn<Ctx>;
const CLI = path.resolve('dist/src/cli/main.js');
const run = promisify(execFile);

if (!temporalAvailable()) {
  test('temporal dev server binary is missing (scripts/setup-temporal.sh)', (t) => t.fail());
} else {
  test.before(async (t) => {
    const [server, code, runRoot] = await Promise.all([startTemporal(), bundle(), tempDir('runs')]);
    t.context = { server, code, runRoot };
  });
  test.after.always(async (t) => {
    await t.context.server?.stop();
  });

  function startCliWorker(address: string, queue: string, runRoot: string): { proc: ChildProcess; ready: Promise<void> } {
    const args = [CLI, 'worker', '--task-queue', queue, '--slots', '2', '--address', address, '--no-mlflow'];
    args.push('--run-root', runRoot, '--advertise-host', '127.0.0.1', '--replica-command', `${process.execPath} ${FAKE_REPLICA}`);
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr?.on('data', (c: Buffer) => {
      err = (err + c.toString()).slice(-3000);
    });
    const ready = new Promise<void>((resolve, reject) => {
      createInterface({ input: proc.stdout! }).on('line', (l) => {
        if (l.startsWith('{"type":"worker"')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${err}`)));
    });
    return { proc, ready };
  }

  test.serial('SIGKILL of a worker mid-trial: no orphan replicas; the trial resumes on another worker from its checkpoint', async (t) => {
    const { server, code, runRoot } = t.context;
    const queue = 'kill-worker';
    const key = 'beta=2,seed=0';
    const a = startCliWorker(server.address, queue, runRoot);
    await a.ready;
    // Generation 0 holds right after its checkpoint at step 20, so the kill lands there however slow the machine is.
    const spec = smallSpec('killworker', queue, { train: { steps: 80, fakeStepMs: 10, checkpointEvery: 10, fakeHoldAt: '0:20' }, search: { grid: { beta: [2] }, seeds: [0] } });
    const handle = await startSweep(server.client, spec);
    const trial = server.client.workflow.getHandle(trialWorkflowId('killworker', key));
    await waitHeld(runRoot, 'killworker', key, 0, 2);
    await waitFor(
      'the workflow to know the checkpoint at step 20',
      async () => {
        try {
          const p = await trial.query(trialProgressQuery);
          return p.lastCheckpoint?.step === 20 ? p : undefined;
        } catch {
          return undefined;
        }
      },
      120_000,
    );
    const pids = await replicaPids(runRoot, 'killworker', key);
    t.is(pids.length, 2);
    a.proc.kill('SIGKILL');
    // Their stdin closes with the worker; 60 s is a hang guard, not a speed requirement.
    t.deepEqual(await stillAliveAfter(pids, 60_000), [], 'replicas outlived their SIGKILLed worker');

    const b = await startWorker({ taskQueue: queue, address: server.address, slots: 2, runRoot, code });
    try {
      const result = await handle.result();
      t.is(result.trials[0]?.state, 'completed', result.trials[0]?.error);
      const progress = await trial.query(trialProgressQuery);
      t.is(progress.restarts.length, 1, JSON.stringify(progress.restarts));
      const resumeStep = progress.restarts[0]?.resumeStep ?? 0;
      t.is(resumeStep, 20);
      const trained = await trainedSteps(runRoot, 'killworker', key);
      const g1 = trained.filter((s) => s.generation === 1).map((s) => s.step);
      t.deepEqual(g1, Array.from({ length: 80 - resumeStep }, (_, i) => resumeStep + 1 + i), 'generation 1 trains exactly the steps after the checkpoint');
      const curve = (await trial.query(trialCurveQuery)).map((p) => p.step);
      t.deepEqual(curve, Array.from({ length: 40 }, (_, i) => 2 * (i + 1)), 'no step twice in the final curve');

      // The CLI reads the ended sweep's results (no worker needed for a closed workflow).
      const out = await run(process.execPath, [CLI, 'sweep', 'results', 'killworker', '--all', '--format', 'json', '--address', server.address]);
      const rows = JSON.parse(out.stdout) as { trial: string; state: string; step: number; mig: number }[];
      t.is(rows.length, 1);
      t.like(rows[0], { trial: key, state: 'completed', step: 80, mig: 0.02 });
    } finally {
      await b.stop();
    }
  });

  test.serial('an invalid spec starts nothing and the CLI names every problem', async (t) => {
    const { server, runRoot } = t.context;
    const file = path.join(runRoot, 'bad.yaml');
    await writeFile(file, 'name: badspec\ndataset: dsprites\nmodel: {variant: vq-vae}\ntrain: {steps: -5, batchSize: 8}\nsearch: {grid: {beta: [1]}, seeds: [0]}\nreplicas: 2\n');
    const err = await t.throwsAsync(run(process.execPath, [CLI, 'sweep', 'start', file, '--address', server.address]));
    const stderr = (err as unknown as { stderr: string }).stderr;
    t.regex(stderr, /model\.variant: got "vq-vae"; expected one of/);
    t.regex(stderr, /train\.steps: got -5; expected an integer >= 1/);
    await t.throwsAsync(server.client.workflow.getHandle('sweep/badspec').describe(), { instanceOf: WorkflowNotFoundError });
  });
}
