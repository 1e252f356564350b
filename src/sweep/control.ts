// Client-side sweep operations shared by the CLI, the demo and the tests: start (refusing a second start clearly),
// progress, pause/resume/cancel, resuming or retrying an ended sweep, adding trials, results. Talks to Temporal only
// through @temporalio/client.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';

import {
  SEARCH_ATTRIBUTE_TYPES,
  addTrialsUpdate,
  cancelSignal,
  pauseSignal,
  progressQuery,
  resumeSignal,
  retryTrialsUpdate,
  specQuery,
  PBT_WORKFLOW,
  SWEEP_WORKFLOW,
  sweepWorkflowId,
  trialProgressQuery,
  trialWorkflowId,
} from '../contract/index.js';
import type { SweepInput, SweepWorkflow, TrialProgress } from '../contract/index.js';
import { collapseReason } from './collapse.js';
import { continueSweep, type Continuation } from './continuation.js';
import { parsePoint } from './expand.js';
import { NoWorkerError, noWorkerMessage } from './pollers.js';
import { defaultMode, METRIC_HEADLINE } from '../contract/types.js';
import type { Objective, SweepProgress, SweepSpec } from '../contract/types.js';

export class SweepAlreadyRunningError extends Error {
  constructor(
    readonly sweepName: string,
    readonly workflowId: string,
  ) {
    super(
      `sweep '${sweepName}' is already running (workflow ${workflowId}). Watch it with \`dcign sweep status ${sweepName}\`, ` +
        `stop it with \`dcign sweep cancel ${sweepName}\`, or give the spec another name to run it again side by side.`,
    );
    this.name = 'SweepAlreadyRunningError';
  }
}

export class SweepNotFoundError extends Error {
  constructor(readonly sweepName: string) {
    super(`no sweep named '${sweepName}' (no workflow ${sweepWorkflowId(sweepName)}); \`dcign sweep list\` shows the known ones`);
    this.name = 'SweepNotFoundError';
  }
}

export interface StartOptions {
  readonly maxHistoryEvents?: number;
  readonly progressReportMs?: number;
}

/** How an ended sweep is continued (resume, retry). */
export interface ContinueOptions extends StartOptions {
  /**
   * Trial workflows still running although their sweep ended (a sweep terminated on the server leaves its trials):
   * cancel them (their replicas stop; the newest checkpoint stays in MLflow) and continue them from there. Without
   * it such a trial is an error, since a second copy would train beside it.
   */
  readonly stopRunning?: boolean;
  /** How long a cancelled trial may take to close before it is terminated (default 60 s). */
  readonly stopTimeoutMs?: number;
}

/** Starts the sweep workflow for a validated spec; a second start of a running sweep throws SweepAlreadyRunningError. */
export async function startSweep(client: Client, spec: SweepSpec, o: StartOptions = {}): Promise<WorkflowHandle<SweepWorkflow>> {
  const workflowId = sweepWorkflowId(spec.name);
  const input: SweepInput = {
    spec,
    ...(o.maxHistoryEvents !== undefined ? { maxHistoryEvents: o.maxHistoryEvents } : {}),
    ...(o.progressReportMs !== undefined ? { progressReportMs: o.progressReportMs } : {}),
  };
  try {
    // search.pbt runs the population-based training workflow: same input, id, queries and result
    return await client.workflow.start<SweepWorkflow>(spec.search.pbt ? PBT_WORKFLOW : SWEEP_WORKFLOW, {
      workflowId,
      taskQueue: spec.taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new SweepAlreadyRunningError(spec.name, workflowId);
    throw err;
  }
}

/** Registers dcign's search attributes where missing (the dev server allows it; production clusters may not). */
export async function ensureSearchAttributes(client: Client, namespace = 'default'): Promise<string[]> {
  const res = await client.connection.operatorService.listSearchAttributes({ namespace });
  const have = res.customAttributes ?? {};
  const missing = Object.entries(SEARCH_ATTRIBUTE_TYPES).filter(([k]) => !(k in have));
  if (missing.length === 0) return [];
  const types: Record<string, number> = { Keyword: 2, Int: 3, Double: 4 };
  await client.connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map(([k, t]) => [k, types[t] as number])),
  });
  return missing.map(([k]) => k);
}

function handleOf(client: Client, name: string): WorkflowHandle<SweepWorkflow> {
  return client.workflow.getHandle<SweepWorkflow>(sweepWorkflowId(name));
}

async function notFound<T>(name: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new SweepNotFoundError(name);
    throw err;
  }
}

/**
 * The sweep's progress: its result when it has ended (no worker needed), else its query, with live step and
 * losses read from each running trial. A running sweep that no worker serves throws NoWorkerError at once.
 */
export async function sweepProgress(client: Client, name: string, o: { live?: boolean } = {}): Promise<SweepProgress & { status: string }> {
  const handle = handleOf(client, name);
  const desc = await notFound(name, handle.describe());
  const status = desc.status.name;
  let progress: SweepProgress;
  if (status === 'COMPLETED') progress = await handle.result();
  else {
    // A running sweep answers its query; a closed one too (Temporal replays it on a worker), as it was when it ended.
    const missing = await noWorkerMessage(client, client.options.namespace, desc.taskQueue);
    if (missing !== undefined && status === 'RUNNING') throw new NoWorkerError(name, desc.taskQueue, missing);
    if (missing !== undefined) {
      throw new Error(`sweep '${name}' is ${status.toLowerCase()} (workflow ${handle.workflowId}); see the Temporal UI for why, \`dcign sweep resume ${name}\` continues it (${missing})`);
    }
    progress = await handle.query(progressQuery);
  }
  if (o.live !== false && status === 'RUNNING') {
    await Promise.all(
      progress.trials
        .filter((t) => t.state === 'running' || t.state === 'restarting')
        .map(async (t) => {
          try {
            const p: TrialProgress = await client.workflow.getHandle(trialWorkflowId(name, t.key)).query(trialProgressQuery);
            t.step = p.step;
            t.losses = p.losses;
            t.generation = p.generation;
          } catch {
            // the trial just ended; its report is on its way to the sweep
          }
        }),
    );
  }
  return { ...progress, status };
}

export async function pauseSweep(client: Client, name: string): Promise<void> {
  await notFound(name, handleOf(client, name).signal(pauseSignal));
}

export type ResumeOutcome =
  /** The sweep was running (paused): the resume signal releases it. */
  | { readonly how: 'signalled' }
  /** The sweep had ended: a new run of it continues these trials; completed ones are kept as they were. */
  | { readonly how: 'restarted'; readonly trials: readonly string[]; readonly kept: number };

/** Resumes a paused sweep, or continues an ended one (completed, failed, cancelled, terminated, timed out). */
export async function resumeSweep(client: Client, name: string, o: ContinueOptions = {}): Promise<ResumeOutcome> {
  const handle = handleOf(client, name);
  const desc = await notFound(name, handle.describe());
  if (desc.status.name === 'RUNNING') {
    await handle.signal(resumeSignal);
    return { how: 'signalled' };
  }
  return continueEnded(client, name, { kind: 'resume' }, o);
}

export type RetryOutcome = { readonly how: 'queued'; readonly trials: readonly string[] } | Extract<ResumeOutcome, { how: 'restarted' }>;

/** Runs failed trials again (the named ones, or all failed) from their newest checkpoints, in a running or ended sweep. */
export async function retryTrials(client: Client, name: string, keys: readonly string[], o: ContinueOptions = {}): Promise<RetryOutcome> {
  const handle = handleOf(client, name);
  const desc = await notFound(name, handle.describe());
  if (desc.status.name !== 'RUNNING') return continueEnded(client, name, { kind: 'retry', keys }, o);
  const missing = await noWorkerMessage(client, client.options.namespace, desc.taskQueue);
  if (missing !== undefined) throw new NoWorkerError(name, desc.taskQueue, missing);
  const trials = await handle.executeUpdate(retryTrialsUpdate, { args: [keys] });
  if (trials.length === 0) throw new Error(`sweep '${name}' has no failed trial to retry`);
  return { how: 'queued', trials };
}

/**
 * Starts a new run of an ended sweep (same workflow id) seeded with the ended run's progress. That progress is read
 * by query, which Temporal answers for a closed workflow too by replaying it on a worker: one must poll the queue.
 */
async function continueEnded(client: Client, name: string, how: Continuation, o: ContinueOptions): Promise<Extract<ResumeOutcome, { how: 'restarted' }>> {
  const handle = handleOf(client, name);
  const desc = await handle.describe();
  const missing = await noWorkerMessage(client, client.options.namespace, desc.taskQueue);
  if (missing !== undefined) {
    throw new Error(`sweep '${name}' has ended (${desc.status.name.toLowerCase()}); reading where it stopped and continuing it need a worker: ${missing}`);
  }
  const [ended, spec] = await Promise.all([handle.query(progressQuery), handle.query(specQuery)]);
  const resumed = continueSweep(ended, how);
  // A trial workflow that outlived its sweep (trials are abandoned by a terminated sweep) would train beside its copy.
  const running: WorkflowHandle[] = [];
  for (const key of resumed.queue) {
    const trial = client.workflow.getHandle(trialWorkflowId(name, key));
    if ((await statusOf(trial)) === 'RUNNING') running.push(trial);
  }
  if (running.length > 0 && o.stopRunning !== true) {
    const which = running.map((h) => `'${h.workflowId.slice(handle.workflowId.length + 1)}'`).join(', ');
    const [trials, are, them] = running.length === 1 ? ['trial', 'is', 'it'] : ['trials', 'are', 'them'];
    throw new Error(
      `${trials} ${which} of sweep '${name}' ${are} still running although the sweep ended, and a second copy would train beside ${them}: ` +
        `let ${them} finish, or stop ${them} and continue from the newest checkpoint with ` +
        `\`dcign sweep ${how.kind} ${name}${how.kind === 'retry' ? ' ...' : ''} --stop-running\``,
    );
  }
  await Promise.all(running.map((h) => stopTrialWorkflow(h, o.stopTimeoutMs ?? 60_000)));
  const input: SweepInput = {
    spec,
    resumed,
    ...(o.maxHistoryEvents !== undefined ? { maxHistoryEvents: o.maxHistoryEvents } : {}),
    ...(o.progressReportMs !== undefined ? { progressReportMs: o.progressReportMs } : {}),
  };
  try {
    await client.workflow.start<SweepWorkflow>(SWEEP_WORKFLOW, { workflowId: handle.workflowId, taskQueue: spec.taskQueue, args: [input], workflowIdConflictPolicy: 'FAIL' });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new SweepAlreadyRunningError(name, handle.workflowId);
    throw err;
  }
  return { how: 'restarted', trials: resumed.queue, kept: ended.trials.length - resumed.queue.length };
}

async function statusOf(h: WorkflowHandle): Promise<string> {
  return h
    .describe()
    .then((d) => d.status.name)
    .catch(() => 'NONE');
}

/**
 * Cancels a trial workflow and waits for it to close: it stops its replicas and closes its MLflow run; its checkpoints
 * stay. One that does not close in time (no worker serves its queue) is terminated.
 */
async function stopTrialWorkflow(h: WorkflowHandle, timeoutMs: number): Promise<void> {
  await h.cancel().catch(() => undefined); // it may have closed meanwhile
  const deadline = Date.now() + timeoutMs;
  while ((await statusOf(h)) === 'RUNNING') {
    if (Date.now() > deadline) {
      await h.terminate(`did not close within ${Math.round(timeoutMs / 1000)} s of the cancel that continuing its ended sweep sent`).catch(() => undefined);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function cancelSweep(client: Client, name: string, reason = 'cancelled from the CLI'): Promise<void> {
  await notFound(name, handleOf(client, name).signal(cancelSignal, reason));
}

export type StopOutcome =
  | { readonly how: 'signalled' }
  /** No worker could handle the cancel signal: the server terminated the sweep and its running trials. */
  | { readonly how: 'terminated'; readonly trials: number; readonly why: string };

/**
 * Cancels a running sweep: by the cancel signal when a worker serves it (trials and replicas stop cleanly, MLflow
 * runs are closed), else by terminating it on the server, since a signal or a cancel request waits for a worker.
 */
export async function stopSweep(client: Client, name: string, reason = 'cancelled from the CLI'): Promise<StopOutcome> {
  const handle = handleOf(client, name);
  const desc = await notFound(name, handle.describe());
  if (desc.status.name !== 'RUNNING') throw new Error(`sweep '${name}' has already ended (${desc.status.name.toLowerCase()}); nothing to cancel`);
  const missing = await noWorkerMessage(client, client.options.namespace, desc.taskQueue);
  if (missing === undefined) {
    await handle.signal(cancelSignal, reason);
    return { how: 'signalled' };
  }
  const why = `${reason}; ${missing}`;
  await handle.terminate(why);
  // Trials run with ParentClosePolicy.ABANDON (they must outlive a continue-as-new), so ending the sweep leaves them.
  let trials = 0;
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'trialWorkflow' AND ExecutionStatus = 'Running'` })) {
    if (!wf.workflowId.startsWith(`${handle.workflowId}/`)) continue;
    await client.workflow.getHandle(wf.workflowId).terminate(why);
    trials += 1;
  }
  return { how: 'terminated', trials, why: missing };
}

/** Parses points (`beta=3,latent=10,seed=0`; several separated by ';') against the sweep's spec and adds them. */
export async function addTrials(client: Client, name: string, points: readonly string[]): Promise<string[]> {
  const handle = handleOf(client, name);
  const desc = await notFound(name, handle.describe());
  const missing = desc.status.name === 'RUNNING' ? await noWorkerMessage(client, client.options.namespace, desc.taskQueue) : undefined;
  if (missing !== undefined) throw new Error(`cannot add trials to sweep '${name}' now: ${missing}`);
  const spec = await handle.query(specQuery);
  const plans = points.flatMap((p) => p.split(';')).filter((p) => p.trim().length > 0).map((p) => parsePoint(spec, p));
  return handle.executeUpdate(addTrialsUpdate, { args: [plans] });
}

/** Summary rows of a sweep, best first by `sortBy` (a metric, descending), else by trial key. */
export interface ResultOptions {
  /** Sort by this key instead of the objective (losses ascending, other metrics descending). */
  readonly sort?: string;
  /** The spec's objective: the default sort, and a column of the compact table. */
  readonly objective?: Objective;
  /** The spec's evaluation metrics: the compact table shows their headline keys (METRIC_HEADLINE). */
  readonly metrics?: readonly string[];
  /** Every column (parameters, step, every loss and metric) instead of the compact table. */
  readonly all?: boolean;
}

/** The trial key without its seed: the configuration a trial is one seed of. */
export function configurationOf(trialKey: string): string {
  return trialKey.replace(/(^|,)seed=[^,]*/, '').replace(/^,/, '');
}

/**
 * One row per trial, best first. Compact by default (configuration, seed, state, recon, KL, the objective and the
 * spec's metrics, UDR when a trial has it); `all` gives every column. Sorted by `sort`, else the objective, else the
 * first metric; trials without the value last.
 */
export function resultRows(p: SweepProgress, o: ResultOptions = {}): Record<string, string | number>[] {
  const metricKeys = [...new Set(p.trials.flatMap((t) => Object.keys(t.metrics)))].sort();
  const lossKeys = [...new Set(p.trials.flatMap((t) => Object.keys(t.losses)))].sort();
  const value = (t: SweepProgress['trials'][number], k: string): number | '' => t.metrics[k] ?? t.losses[k] ?? '';
  const specKeys = (o.metrics ?? []).map((m) => METRIC_HEADLINE[m as keyof typeof METRIC_HEADLINE] ?? m);
  const compactKeys = [
    ...new Set(['recon', 'kl', ...(o.objective ? [o.objective.metric] : []), ...specKeys, ...(metricKeys.includes('udr') ? ['udr'] : [])]),
  ];
  const rows = p.trials.map((t) => {
    const row: Record<string, string | number> = o.all ? { trial: t.key } : { configuration: configurationOf(t.key) || t.key };
    if (o.all) for (const [k, v] of Object.entries(t.params)) row[k] = typeof v === 'boolean' ? String(v) : v;
    row.seed = t.seed;
    row.state = t.state;
    if (o.all) {
      row.step = t.step;
      for (const k of lossKeys) row[k] = t.losses[k] ?? '';
      for (const k of metricKeys) row[k] = t.metrics[k] ?? '';
    } else {
      for (const k of compactKeys) row[k] = value(t, k);
    }
    // a collapsed trial's metrics describe no code at all: say so beside them (collapse.ts states the threshold)
    const collapsed = collapseReason({ ...t.losses, ...t.metrics });
    if (collapsed !== undefined) row.collapsed = collapsed;
    if (t.error) row.error = o.all ? t.error : t.error.slice(0, 60);
    if (t.state === 'stopped' && t.stopped) row.stopped = o.all ? t.stopped : t.stopped.slice(0, 60);
    return { row, key: t.key };
  });
  const key = o.sort ?? o.objective?.metric ?? specKeys[0] ?? metricKeys[0];
  const mode = o.sort !== undefined ? defaultMode(o.sort) : (o.objective?.mode ?? 'max');
  const byKey = new Map(p.trials.map((t) => [t.key, t]));
  rows.sort((a, b) => {
    if (key !== undefined) {
      const av = value(byKey.get(a.key) as SweepProgress['trials'][number], key);
      const bv = value(byKey.get(b.key) as SweepProgress['trials'][number], key);
      const missing = (v: number | ''): number => (v === '' ? 1 : 0);
      if (missing(av) !== missing(bv)) return missing(av) - missing(bv);
      if (av !== '' && bv !== '' && av !== bv) return mode === 'min' ? av - bv : bv - av;
    }
    return a.key.localeCompare(b.key);
  });
  return rows.map((r) => r.row);
}

/** The spec a sweep was started with: the input of its workflow's first event (a continued run carries it on). */
export async function sweepSpecOf(client: Client, name: string): Promise<SweepSpec> {
  const history = await notFound(name, handleOf(client, name).fetchHistory());
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  const input = payload ? defaultPayloadConverter.fromPayload<SweepInput>(payload as Payload) : undefined;
  if (input?.spec === undefined) throw new Error(`sweep '${name}': its workflow's start event holds no spec (workflow ${sweepWorkflowId(name)})`);
  return input.spec;
}

export function temporalUiLink(workflowId: string, ui = process.env.TEMPORAL_UI ?? 'http://localhost:8233', namespace = 'default'): string {
  return `${ui}/namespaces/${namespace}/workflows/${encodeURIComponent(workflowId)}`;
}
