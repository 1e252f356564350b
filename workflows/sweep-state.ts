// What a sweep workflow knows while it runs: the state every phase of sweepWorkflow (./sweep.ts) reads and advances,
// carried across continue-as-new (progress, queue, search attributes) or taken over from an ended run by resume; the
// activity proxy it calls; and the small rules on trials (which hold a slot, how one ends, how one is queued).
// Workflow code: deterministic.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';

import { expandTrials } from '../src/sweep/expand.js';
import type { Activities } from '../workers/activities.js';
import type { SweepProgress, TrialPlan, TrialStatus } from '../src/contract/types.js';
import { controlQueue } from '../src/contract/index.js';
import type { CheckpointRef, SweepInput, SweepSpec } from '../src/contract/index.js';
import type { Optimizer } from './optimize.js';

export const TERMINAL = new Set(['completed', 'stopped', 'failed', 'cancelled']);

/** Tracking, summaries and the trials' MLflow runs: on the control queue, retried. */
export function sweepActivities(spec: SweepSpec): Activities {
  return proxyActivities<Activities>({
    taskQueue: controlQueue(spec.taskQueue),
    startToCloseTimeout: '1 hour',
    retry: { maximumAttempts: spec.retry.activityMaxAttempts, initialInterval: '1s' },
  });
}

export interface SweepRun {
  readonly input: SweepInput;
  readonly spec: SweepSpec;
  readonly progress: SweepProgress;
  readonly byKey: Map<string, TrialStatus>;
  /** Trials waiting for a slot, in order; a paused trial goes first, to continue on resume. */
  readonly queue: string[];
  searchAttributes: readonly string[];
  cancelRequested: boolean;
  cancelReason: string;
  /** Each start of a trial's workflow; a result of an earlier start (a paused workflow) never overwrites a later one. */
  readonly starts: Map<string, number>;
  /** A pause asked running trials to stop; set by the pause signal, done by the main loop. */
  pauseTrialsDue: boolean;
  /** search.optimize: Optuna proposing trials beside the sweep (./optimize.ts). */
  search: Optimizer | undefined;
  readonly maxHistoryEvents: number;
}

export function newSweepRun(input: SweepInput): SweepRun {
  const { spec } = input;
  const seeded = input.carried ?? input.resumed;
  const progress: SweepProgress = seeded?.progress ?? {
    name: spec.name,
    state: 'running',
    maxConcurrentTrials: spec.maxConcurrentTrials,
    trials: (input.trials ?? expandTrials(spec)).map(newStatus),
    continuedAsNew: 0,
  };
  if (input.resumed) progress.resumed = (progress.resumed ?? 0) + 1;
  const r: SweepRun = {
    input,
    spec,
    progress,
    byKey: new Map(progress.trials.map((t) => [t.key, t])),
    queue: seeded ? [...seeded.queue] : progress.trials.map((t) => t.key),
    searchAttributes: input.carried?.searchAttributes ?? [],
    cancelRequested: progress.state === 'cancelling',
    cancelReason: 'cancelled by request',
    starts: new Map(),
    pauseTrialsDue: false,
    search: undefined,
    maxHistoryEvents: input.maxHistoryEvents ?? 10000,
  };
  r.pauseTrialsDue = progress.state === 'paused' && running(r).length > 0;
  return r;
}

/** Trials holding a slot: paused and pending ones hold none. */
export function running(r: SweepRun): TrialStatus[] {
  return r.progress.trials.filter((t) => t.state !== 'pending' && t.state !== 'paused' && !TERMINAL.has(t.state));
}

/** Nothing queued, nothing running, nothing more to come from the search: the sweep is over. */
export function allEnded(r: SweepRun): boolean {
  return r.queue.length === 0 && running(r).length === 0 && (r.search?.done() ?? true);
}

/** A queued trial may start now. */
export function slotFree(r: SweepRun): boolean {
  return r.progress.state === 'running' && r.queue.length > 0 && running(r).length < r.spec.maxConcurrentTrials;
}

/** Time to continue as new: the history passed the sweep's own bound, or the server suggests it. */
export function historyFull(r: SweepRun): boolean {
  return workflowInfo().historyLength > r.maxHistoryEvents || workflowInfo().continueAsNewSuggested;
}

/** Queues the trials whose keys the sweep does not know yet (`sweep add`, the search); returns the keys queued. */
export function addTrials(r: SweepRun, plans: readonly TrialPlan[]): string[] {
  const added: string[] = [];
  for (const p of plans) {
    if (r.byKey.has(p.key)) continue;
    const t = newStatus(p);
    r.progress.trials.push(t);
    r.byKey.set(t.key, t);
    r.queue.push(t.key);
    added.push(t.key);
  }
  return added;
}

/** A trial that stopped for a pause: it holds no slot and goes first in the queue, to continue on resume. */
export function pausedAt(r: SweepRun, t: TrialStatus): void {
  if (t.state === 'paused' || TERMINAL.has(t.state)) return;
  t.state = 'paused';
  if (t.checkpointStep !== undefined) t.step = t.checkpointStep;
  if (!r.queue.includes(t.key)) r.queue.unshift(t.key);
}

export function settle(t: TrialStatus, state: 'completed' | 'stopped' | 'failed' | 'cancelled', error?: string, metrics?: Record<string, number>): void {
  if (TERMINAL.has(t.state)) return;
  t.state = state;
  if (error) t.error = error;
  if (metrics) t.metrics = metrics;
  t.endedAt = Date.now();
}

/** Where a trial that ran before continues: its newest checkpoint the sweep heard of (the trial run may hold newer). */
export function checkpointOf(t: TrialStatus): CheckpointRef | undefined {
  return t.checkpointUri !== undefined && t.checkpointStep !== undefined ? { step: t.checkpointStep, uri: t.checkpointUri } : undefined;
}

function newStatus(p: TrialPlan): TrialStatus {
  return { key: p.key, params: p.params, seed: p.seed, state: 'pending', step: 0, generation: 0, losses: {}, metrics: {} };
}
