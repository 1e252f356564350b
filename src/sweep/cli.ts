// Implementation of `dcign sweep ...` (the yargs definitions live in src/cli/commands/sweep.ts and import this lazily).
import { Client, Connection } from '@temporalio/client';

import { trackingUriFromEnv } from '../tracking/index.js';
import { mlflowExperimentLink } from '../tracking/ui-links.js';
import { describeTemporalSecurity, temporalConnectionOptions } from '../temporal-connection.js';
import type { TemporalSecurity } from '../temporal-connection.js';
import { SWEEP_WORKFLOW, sweepWorkflowId } from '../contract/index.js';
import {
  addTrials,
  ensureSearchAttributes,
  pauseSweep,
  resultRows,
  resumeSweep,
  retryTrials,
  startSweep,
  stopSweep,
  sweepProgress,
  sweepSpecOf,
  temporalUiLink,
  type ResultOptions,
} from './control.js';
import { planSweep } from './plan.js';
import { NoWorkerError, noWorkerMessage } from './pollers.js';
import { loadSweepSpec } from './spec.js';
import { searchRows } from '../search/results.js';
import { lineageRows } from '../search/pbt-results.js';
import { workerFileNotice } from './worker-file.js';
import type { SweepProgress, SweepSpec } from '../contract/types.js';

export interface ConnectionArgs {
  readonly address: string;
  readonly namespace: string;
  readonly ui: string;
  /** MLflow tracking server, for links (default MLFLOW_TRACKING_URI or the local default). */
  readonly mlflowUri?: string;
  /** TLS / mTLS / API key (default plaintext). */
  readonly security?: TemporalSecurity;
}

export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';

async function withClient<T>(a: ConnectionArgs, fn: (client: Client) => Promise<T>): Promise<T> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...temporalConnectionOptions(a.address, a.security), connectTimeout: 5000 });
  } catch (err) {
    const how = describeTemporalSecurity(a.security ?? {});
    throw new Error(
      `cannot reach Temporal at ${a.address} (${how}: ${(err as Error).message}); start the stack with \`dcign dev up\` or set TEMPORAL_ADDRESS` +
        (a.security?.tls ? ', and check the --tls-* options' : '; a server that requires TLS needs --tls (or --tls-cert-path/--tls-key-path for mTLS)'),
    );
  }
  try {
    return await fn(new Client({ connection, namespace: a.namespace }));
  } finally {
    await connection.close();
  }
}

export async function sweepStart(a: ConnectionArgs & { spec: string; wait: boolean; maxTrials?: number }): Promise<void> {
  const spec = loadSweepSpec(a.spec); // throws listing every problem: nothing starts
  // Every trial's config through the trainer's own checks, the dataset's form, the sweep's size: before connecting.
  const plan = planSweep(spec, { ...(a.maxTrials !== undefined ? { maxTrials: a.maxTrials } : {}), source: a.spec });
  const trials = plan.trials.length;
  // Said before connecting, so it is seen even when Temporal is unreachable.
  const fileNotice = workerFileNotice(plan.workerFile, spec.taskQueue);
  if (fileNotice) console.warn(`${fileNotice.level}: ${fileNotice.message}`);
  await withClient(a, async (client) => {
    try {
      const added = await ensureSearchAttributes(client, a.namespace);
      if (added.length > 0) console.log(`registered search attributes ${added.join(', ')}`);
    } catch (err) {
      console.warn(`note: search attributes not registered (${(err as Error).message}); trials will not be filterable by beta/latent`);
    }
    const handle = await startSweep(client, spec);
    console.log(`started sweep '${spec.name}': ${trials} trials x ${spec.replicas} replicas on task queue ${spec.taskQueue}`);
    console.log(`  Temporal: ${temporalUiLink(handle.workflowId, a.ui, a.namespace)}`);
    const missing = await noWorkerMessage(client, a.namespace, spec.taskQueue);
    if (missing !== undefined) console.warn(`warning: ${missing}. The sweep waits in Temporal until a worker polls.`);
    const progress = missing === undefined ? await waitForExperiment(client, spec.name) : undefined;
    const uri = a.mlflowUri ?? trackingUriFromEnv();
    if (progress?.experimentId) console.log(`  MLflow:   ${mlflowExperimentLink(uri, progress.experimentId)}`);
    else console.log(`  MLflow:   ${uri} (experiment '${spec.name}', once a worker has picked the sweep up)`);
    if (!a.wait) return;
    let last = '';
    for (;;) {
      const { status } = await handle.describe();
      if (status.name !== 'RUNNING') break;
      let line: string;
      try {
        line = summaryLine(await sweepProgress(client, spec.name));
      } catch (err) {
        if (!(err instanceof NoWorkerError)) throw err;
        line = `waiting: ${err.detail}`;
      }
      if (line !== last) console.log(line);
      last = line;
      await new Promise((r) => setTimeout(r, 2000));
    }
    console.log(formatTable(resultRows(await sweepProgress(client, spec.name), specResultOptions(spec))));
  });
}

async function waitForExperiment(client: Client, name: string): Promise<SweepProgress | undefined> {
  for (let i = 0; i < 20; i++) {
    try {
      const p = await sweepProgress(client, name, { live: false });
      if (p.experimentId || p.trials.some((t) => t.state !== 'pending')) return p;
    } catch {
      // no worker has run the first workflow task yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return undefined;
}

function summaryLine(p: SweepProgress & { status: string }): string {
  const counts: Record<string, number> = {};
  for (const t of p.trials) counts[t.state] = (counts[t.state] ?? 0) + 1;
  // a closed run that did not complete (terminated, timed out, failed) ended in the middle of its recorded state
  const state = p.status === 'RUNNING' || p.status === 'COMPLETED' ? p.state : `${p.status.toLowerCase()} (while ${p.state})`;
  return `${p.name}: ${state} | ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}`;
}

export async function sweepStatus(a: ConnectionArgs & { name: string; format: string }): Promise<void> {
  await withClient(a, async (client) => {
    const link = temporalUiLink(sweepWorkflowId(a.name), a.ui, a.namespace);
    let p: Awaited<ReturnType<typeof sweepProgress>>;
    try {
      p = await sweepProgress(client, a.name);
    } catch (err) {
      if (!(err instanceof NoWorkerError)) throw err;
      // Temporal's own record still answers: the state, and why nothing moves.
      if (a.format === 'json') console.log(JSON.stringify({ name: a.name, status: 'RUNNING', taskQueue: err.taskQueue, noWorker: err.detail }, null, 2));
      else console.log(`${a.name}: RUNNING in Temporal, no progress to show: ${err.detail}  (${link})`);
      return;
    }
    if (a.format === 'json') {
      console.log(JSON.stringify(p, null, 2));
      return;
    }
    console.log(`${summaryLine(p)}  (${link})`);
    const rows = p.trials.map((t) => ({
      trial: t.key,
      state: t.state,
      step: t.step,
      gen: t.generation,
      ...Object.fromEntries(Object.entries(t.losses).map(([k, v]) => [k, fmt(v)])),
      ...Object.fromEntries(Object.entries(t.metrics).map(([k, v]) => [k, fmt(v)])),
      ...(t.error ? { error: t.error.slice(0, 80) } : {}),
      ...(t.state === 'stopped' && t.stopped ? { stopped: t.stopped.slice(0, 80) } : {}),
    }));
    console.log(formatTable(rows));
  });
}

export async function sweepList(a: ConnectionArgs): Promise<void> {
  await withClient(a, async (client) => {
    const rows: Record<string, string>[] = [];
    for await (const wf of client.workflow.list({ query: `WorkflowType = '${SWEEP_WORKFLOW}'` })) {
      rows.push({ sweep: wf.workflowId.replace(/^sweep\//, ''), status: wf.status.name, started: wf.startTime.toISOString(), workflow: wf.workflowId });
      if (rows.length >= 200) break;
    }
    // One row per sweep (continue-as-new leaves a closed run behind each time): the newest run wins.
    const newest = new Map<string, Record<string, string>>();
    for (const r of rows) if (!newest.has(r.sweep as string)) newest.set(r.sweep as string, r);
    console.log(newest.size === 0 ? 'no sweeps yet: `dcign sweep start sweeps/smoke.yaml`' : formatTable([...newest.values()]));
  });
}

export async function sweepResume(a: ConnectionArgs & { name: string; stopRunning?: boolean }): Promise<void> {
  await withClient(a, async (client) => {
    const out = await resumeSweep(client, a.name, { stopRunning: a.stopRunning === true });
    if (out.how === 'signalled') {
      const taskQueue = (await client.workflow.getHandle(sweepWorkflowId(a.name)).describe()).taskQueue;
      const missing = await noWorkerMessage(client, a.namespace, taskQueue);
      console.log(`sweep '${a.name}' resumed: paused trials continue from their checkpoints${missing ? ` once a worker handles the signal: ${missing}` : ''}`);
    } else {
      console.log(`sweep '${a.name}' continues in a new run: ${out.trials.length} trial(s) from their newest checkpoints (${out.trials.join('; ')}); ${out.kept} kept as they ended`);
      console.log(`  Temporal: ${temporalUiLink(sweepWorkflowId(a.name), a.ui, a.namespace)}`);
    }
  });
}

export async function sweepRetry(a: ConnectionArgs & { name: string; trials: readonly string[]; stopRunning?: boolean }): Promise<void> {
  await withClient(a, async (client) => {
    const out = await retryTrials(client, a.name, a.trials, { stopRunning: a.stopRunning === true });
    const where = out.how === 'queued' ? 'queued in the running sweep' : `in a new run of the ended sweep (${out.kept} trial(s) kept as they ended)`;
    console.log(`retrying ${out.trials.length} trial(s) ${where}, each from its newest checkpoint: ${out.trials.join('; ')}`);
  });
}

export async function sweepSignal(a: ConnectionArgs & { name: string; action: 'pause' | 'cancel' }): Promise<void> {
  await withClient(a, async (client) => {
    if (a.action === 'cancel') {
      const out = await stopSweep(client, a.name);
      if (out.how === 'signalled') console.log(`sweep '${a.name}' cancelling: running trials and their replicas are being stopped`);
      else {
        console.log(
          `sweep '${a.name}' terminated by the Temporal server${out.trials > 0 ? ` with ${out.trials} running trial(s)` : ''}: ` +
            `a cancel signal needs a worker and ${out.why.replace(/;.*$/, '')}. MLflow runs it had opened stay as they were.`,
        );
      }
      return;
    }
    await pauseSweep(client, a.name);
    const taskQueue = (await client.workflow.getHandle(sweepWorkflowId(a.name)).describe()).taskQueue;
    const missing = await noWorkerMessage(client, a.namespace, taskQueue);
    const what = 'pausing: running trials stop at their next step with a checkpoint and free their slots, no new ones start';
    console.log(`sweep '${a.name}' ${what}${missing ? ` once a worker handles the signal: ${missing}` : ''}; \`dcign sweep resume ${a.name}\` continues`);
  });
}

export async function sweepAdd(a: ConnectionArgs & { name: string; points: readonly string[] }): Promise<void> {
  await withClient(a, async (client) => {
    const added = await addTrials(client, a.name, a.points);
    console.log(added.length === 0 ? 'nothing added: every point is already in the sweep' : `added ${added.length} trial(s): ${added.join('; ')}`);
  });
}

export async function sweepResults(a: ConnectionArgs & { name: string; format: 'table' | 'csv' | 'json'; sort?: string; all?: boolean }): Promise<void> {
  await withClient(a, async (client) => {
    const spec = await sweepSpecOf(client, a.name);
    const progress = await sweepProgress(client, a.name);
    const rows = resultRows(progress, specResultOptions(spec, { ...(a.sort ? { sort: a.sort } : {}), all: a.all ?? false }));
    // search.optimize: the configurations Optuna proposed, each judged on all its seeds
    const configs = progress.search ? searchRows(progress.search, spec) : undefined;
    // search.pbt: each member's lineage, generation by generation
    const lineage = progress.pbt ? lineageRows(progress.pbt, spec) : undefined;
    if (a.format === 'json') {
      const out = configs ? { trials: rows, configurations: configs, study: progress.search?.study, storage: progress.search?.storage } : lineage ? { trials: rows, lineage } : rows;
      console.log(JSON.stringify(out, null, 2));
    } else if (a.format === 'csv') console.log(toCsv(configs ?? lineage ?? rows));
    else {
      console.log(formatTable(rows));
      if (lineage && progress.pbt) {
        const pbt = spec.search.pbt;
        console.log(`\nlineage (PBT: ${progress.pbt.members.length} members, generation ${Math.min(progress.pbt.generation, progress.pbt.generations)} of ${progress.pbt.generations}${pbt ? `, every ${pbt.interval} steps, fitness ${pbt.fitness.metric} (${pbt.fitness.mode})` : ''}):`);
        console.log(formatTable(lineage));
      }
      if (configs && progress.search) {
        const multi = (spec.search.optimize?.objectives.length ?? 0) > 1;
        console.log(`\nconfigurations (Optuna study ${progress.search.study}, ${spec.search.optimize?.sampler}; each over ${spec.search.seeds.length} seed(s)${multi ? '; * = on the Pareto front' : ''}):`);
        console.log(formatTable(configs));
        if (progress.search.error) console.log(`search: ${progress.search.error}`);
      }
    }
  });
}

/** The compact table a spec asks for: its objective and its metrics. */
function specResultOptions(spec: SweepSpec, o: ResultOptions = {}): ResultOptions {
  return { ...o, ...(spec.objective ? { objective: spec.objective } : {}), metrics: spec.evaluation.enabled ? spec.evaluation.metrics : [] };
}

function fmt(v: number): string {
  return Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.001) ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}

/** A plain text table: columns are the union of the rows' keys, in first-seen order. */
export function formatTable(rows: readonly Record<string, unknown>[]): string {
  if (rows.length === 0) return '(no rows)';
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown): string => (v === undefined ? '' : typeof v === 'number' ? fmt(v) : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]): string => vals.map((v, i) => v.padEnd(widths[i] as number)).join('  ').trimEnd();
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

export function toCsv(rows: readonly Record<string, unknown>[]): string {
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const esc = (v: unknown): string => {
    const s = v === undefined ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [cols.join(','), ...rows.map((r) => cols.map((c) => esc(r[c])).join(','))].join('\n');
}

/** `dcign sweep dashboard <name>`: optuna-dashboard on the study the sweep's search.optimize keeps. */
export async function sweepDashboard(a: ConnectionArgs & { name: string; host: string; port: number; storage?: string }): Promise<void> {
  const search = await withClient(a, async (client) => (await sweepProgress(client, a.name)).search);
  if (!search) throw new Error(`sweep ${a.name} has no Optuna study: only sweeps with search.optimize do (and only once it asked for its first configurations)`);
  const storage = a.storage ?? search.storage;
  if (!storage) throw new Error(`sweep ${a.name} has not opened its study yet; try again once its first configurations are asked`);
  const { runDashboard } = await import('../search/dashboard.js');
  await runDashboard({ storage, study: search.study, host: a.host, port: a.port });
}
