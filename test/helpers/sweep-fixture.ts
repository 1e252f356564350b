// Shared pieces of the orchestration tests: a workflow bundle built once per file, a worker whose replicas are the
// fake replica (tiny real child processes speaking the replica protocol), and spec builders.
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { DefaultLogger, Runtime, bundleWorkflowCode } from '@temporalio/worker';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';

import { validateSweepSpec } from '../../src/sweep/spec.js';
import type { SweepSpec } from '../../src/contract/types.js';
import { WORKFLOWS_PATH, createDcignWorker } from '../../workers/worker.js';
import type { DcignWorker, DcignWorkerOptions } from '../../workers/worker.js';

// Workers log at WARN in tests (state changes at INFO drown the test output).
Runtime.install({ logger: new DefaultLogger('WARN') });

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/test/helpers
export const FAKE_REPLICA = path.resolve(here, '../workers/fixtures/fake-replica.js');

export async function bundle(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { log: () => undefined, info: () => undefined, warn: () => undefined, error: console.error, debug: () => undefined, trace: () => undefined } });
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `dcign-${prefix}-`));
}

/**
 * A stand-in evaluator: metrics that depend on beta, so sorting is checkable; a planted trial's
 * (train.fakeLossScale=s in its key) mig is s times worse, so early stopping on mig has known losers; a trial with
 * train.fakeEvalFail=<step> in its key fails to evaluate its checkpoint of that step; one with
 * train.fakeEvalDelayMs=<ms> takes that long over each evaluation (a slow metric, e.g. MIG on a large sample).
 */
export async function fakeEvaluate(req: { trialKey: string; checkpointPath: string }): Promise<Record<string, number>> {
  const beta = Number(/beta=([\d.]+)/.exec(req.trialKey)?.[1] ?? 1);
  const scale = Number(/fakeLossScale=([\d.]+)/.exec(req.trialKey)?.[1] ?? 1);
  const state = JSON.parse(await readFile(path.join(req.checkpointPath, 'state.json'), 'utf8')) as { step: number };
  if (Number(/fakeEvalFail=(\d+)/.exec(req.trialKey)?.[1]) === state.step) throw new Error(`injected evaluation failure at step ${state.step}`);
  const delay = Number(/fakeEvalDelayMs=(\d+)/.exec(req.trialKey)?.[1] ?? 0);
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  return { mig: beta / 100 / scale, sap: 0.01 * state.step };
}

export interface RunningWorker {
  readonly worker: DcignWorker;
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export async function startWorker(o: DcignWorkerOptions & { code: WorkflowBundleWithSourceMap }): Promise<RunningWorker> {
  const { code, ...rest } = o;
  const worker = await createDcignWorker({
    advertiseHost: '127.0.0.1',
    replicaCommand: [process.execPath, FAKE_REPLICA],
    workflowBundle: { code: code.code },
    evaluate: fakeEvaluate,
    progressIntervalMs: 200,
    shutdownGraceMs: 3000,
    ...rest,
  });
  const done = worker.run();
  return {
    worker,
    done,
    stop: async () => {
      worker.shutdown();
      await done;
    },
  };
}

export function smallSpec(name: string, taskQueue: string, over: Record<string, unknown> = {}): SweepSpec {
  const { train, search, retry, ...top } = over as { train?: object; search?: object; retry?: object };
  // The fake replica's knobs (fakeStepMs, fakeFail, fakeHoldAt ...) are no trainer fields, so the spec refuses them:
  // validate the rest and add them to the validated train section, as a test-only extension.
  const all: Record<string, unknown> = { steps: 20, batchSize: 8, learningRate: 0.001, logEvery: 2, checkpointEvery: 5, fakeStepMs: 10, ...train };
  const fakes = Object.fromEntries(Object.entries(all).filter(([k]) => k.startsWith('fake')));
  const spec = validateSweepSpec({
    name,
    dataset: 'dsprites-small',
    model: { variant: 'beta-vae', imageSize: 32, latentSize: 4 },
    train: Object.fromEntries(Object.entries(all).filter(([k]) => !k.startsWith('fake'))),
    search: { grid: { beta: [1, 4] }, seeds: [0, 1], ...search },
    replicas: 2,
    evaluation: { metrics: ['mig', 'sap'], numTrain: 10, numTest: 10 },
    maxConcurrentTrials: 4,
    retry: { maxGroupRestarts: 2, heartbeatTimeoutSeconds: 3, activityMaxAttempts: 2, ...retry },
    taskQueue,
    ...top,
  });
  return { ...spec, train: { ...spec.train, ...fakes } };
}

/** Steps the fake replica's rank 0 trained, in order, as {generation, step}. */
export async function trainedSteps(runRoot: string, sweep: string, trialKey: string): Promise<{ generation: number; step: number }[]> {
  const text = await readFile(path.join(runRoot, sweep, trialKey, 'trained.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as { generation: number; step: number });
}

/** PIDs of every replica process a trial started. */
export async function replicaPids(runRoot: string, sweep: string, trialKey: string): Promise<number[]> {
  try {
    return (await readdir(path.join(runRoot, sweep, trialKey, 'pids'))).map(Number);
  } catch {
    return [];
  }
}

/**
 * Waits until every rank of `generation` holds at the fake replica's train.fakeHoldAt step (each wrote its
 * held-g<generation>-r<rank> file): from then on nothing trains until release-g<generation> appears or it is killed.
 */
export async function waitHeld(runRoot: string, sweep: string, trialKey: string, generation: number, worldSize: number, timeoutMs = 120_000): Promise<void> {
  const dir = path.join(runRoot, sweep, trialKey);
  await waitFor(
    `${worldSize} replicas of generation ${generation} holding in ${dir}`,
    async () => {
      const held = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.startsWith(`held-g${generation}-r`));
      return held.length === worldSize ? true : undefined;
    },
    timeoutMs,
  );
}

/** Waits (up to timeoutMs, a hang guard) for the given processes to exit; returns those still alive at the end. */
export async function stillAliveAfter(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return pids.filter(alive);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
