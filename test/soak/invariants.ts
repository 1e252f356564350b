// What the soak checks at the end, each from the servers' own records, not from what the soak believes it did:
// Temporal's list/describe and histories, MLflow's metric histories (REST get-history) and stored checkpoints, the
// process table and the sockets left. Each check returns how many things it looked at and every violation.
import net from 'node:net';

import type { Client } from '@temporalio/client';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

import type { SweepProgress } from '../../src/contract/types.js';
import { CheckpointStore } from '../../src/tracking/checkpoint-store.js';
import { MlflowClient } from '../../src/tracking/index.js';
import type { SweepRecord } from './sweeps.js';

export interface InvariantResult {
  readonly name: string;
  /** How many things were checked (workflows, runs, metric keys, pids, ports). */
  readonly checked: number;
  readonly unit: string;
  readonly violations: readonly string[];
  /** Context the table prints beside the count (e.g. trial outcomes). */
  readonly note?: string;
}

/** Every workflow closed: trials completed, stopped by ASHA, or failed with a reason; sweeps completed. */
export async function workflowsEnded(client: Client, records: readonly SweepRecord[]): Promise<InvariantResult> {
  const violations: string[] = [];
  let n = 0;
  for await (const wf of client.workflow.list()) {
    n += 1;
    const s = wf.status.name;
    if (s === 'COMPLETED' || s === 'CONTINUED_AS_NEW') continue;
    if (s === 'FAILED') {
      const why = await client.workflow
        .getHandle(wf.workflowId, wf.runId)
        .result()
        .then(() => '')
        .catch((e: Error) => e.message);
      if (why.trim() === '') violations.push(`${wf.workflowId}: FAILED without a reason`);
      continue;
    }
    violations.push(`${wf.workflowId}: ${s}`);
  }
  const states = new Map<string, number>();
  let restarts = 0;
  for (const r of records) {
    if (r.error) violations.push(`sweep ${r.spec.name}: ${r.error}`);
    for (const t of r.result?.trials ?? []) {
      states.set(t.state, (states.get(t.state) ?? 0) + 1);
      restarts += t.generation; // a trial's generation counts its group restarts
      if (!['completed', 'stopped', 'failed'].includes(t.state)) violations.push(`${r.spec.name}/${t.key}: ended ${t.state}`);
      if (t.state === 'failed' && (t.error ?? '').trim() === '') violations.push(`${r.spec.name}/${t.key}: failed without a reason`);
    }
  }
  const note = [...states].map(([s, c]) => `${c} ${s}`).join(', ');
  return { name: 'every workflow closed; each trial completed, stopped or failed with a reason', checked: n, unit: 'workflows', violations, note: `trials: ${note || 'none'}; ${restarts} group restarts` };
}

interface TrialRun {
  readonly sweep: string;
  readonly key: string;
  readonly runId: string;
  readonly state: string;
  readonly steps: number;
  readonly logEvery: number;
}

function trialRuns(records: readonly SweepRecord[]): TrialRun[] {
  const out: TrialRun[] = [];
  for (const r of records) {
    for (const t of (r.result as SweepProgress | undefined)?.trials ?? []) {
      if (t.mlflowRunId) out.push({ sweep: r.spec.name, key: t.key, runId: t.mlflowRunId, state: t.state, steps: r.spec.train.steps, logEvery: r.spec.train.logEvery });
    }
  }
  return out;
}

/** The steps a key at the logEvery cadence must hold up to `last`: logEvery, 2 logEvery, ..., and the final step. */
export function cadenceSteps(logEvery: number, last: number, steps: number): number[] {
  const out: number[] = [];
  for (let s = logEvery; s <= last; s += logEvery) out.push(s);
  if (last === steps && out[out.length - 1] !== steps) out.push(steps);
  return out;
}

export interface MetricCheck {
  readonly once: InvariantResult;
  readonly checkpoints: InvariantResult;
}

/**
 * Every metric key of every trial run, read back with get-history: no step twice, and for keys logged at more than
 * one step (the training losses) no step missing between the first log step and the last one logged. Then the
 * checkpoints: the newest complete one stored in the run is at or below the last logged step, and a completed trial
 * logged its last step.
 */
export async function metricsAndCheckpoints(mlflowUri: string, records: readonly SweepRecord[]): Promise<MetricCheck> {
  const client = new MlflowClient({ trackingUri: mlflowUri });
  const once: string[] = [];
  const ckpt: string[] = [];
  let keys = 0;
  let differing = 0;
  const runs = trialRuns(records);
  try {
    for (const t of runs) {
      const name = `${t.sweep}/${t.key} (run ${t.runId})`;
      const run = await client.getRun(t.runId);
      differing += Number(run.data.tags['dcign.recomputedDiffering'] ?? 0);
      let lastLoss = 0;
      for (const key of Object.keys(run.data.metrics).sort()) {
        keys += 1;
        const steps = (await client.getMetricHistory(t.runId, key)).map((p) => p.step).sort((a, b) => a - b);
        const count = new Map<number, number>();
        for (const s of steps) count.set(s, (count.get(s) ?? 0) + 1);
        const twice = [...count].filter(([, c]) => c > 1);
        if (twice.length > 0) once.push(`${name} ${key}: step ${twice.slice(0, 5).map(([s, c]) => `${s} x${c}`).join(', ')}${twice.length > 5 ? ` (+${twice.length - 5} more)` : ''}`);
        const distinct = [...count.keys()];
        const last = distinct[distinct.length - 1] ?? 0;
        if (key === 'loss') lastLoss = last;
        if (distinct.length > 1) {
          const missing = cadenceSteps(t.logEvery, last, t.steps).filter((s) => !count.has(s));
          if (missing.length > 0) once.push(`${name} ${key}: missing step ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ` (+${missing.length - 8} more)` : ''} of ${last / t.logEvery} up to ${last}`);
        }
      }
      const latest = await new CheckpointStore(client, t.runId).latest();
      if (latest !== undefined && latest.step > lastLoss) ckpt.push(`${name}: newest stored checkpoint step ${latest.step} > last logged step ${lastLoss}`);
      if (t.state === 'completed' && lastLoss !== t.steps) ckpt.push(`${name}: completed, but its last logged step is ${lastLoss}, not train.steps ${t.steps}`);
    }
  } finally {
    client.close();
  }
  return {
    once: {
      name: 'every metric step of every trial run exactly once in MLflow (no duplicate, no gap)',
      checked: keys,
      unit: `metric keys in ${runs.length} runs`,
      violations: once,
      ...(differing > 0 ? { note: `dcign.recomputedDiffering: ${differing}` } : {}),
    },
    checkpoints: { name: 'newest stored checkpoint <= last logged step; completed trials logged train.steps', checked: runs.length, unit: 'runs', violations: ckpt },
  };
}

/** Every workflow history (every run, continue-as-new included) replays on the current workflow bundle. */
export async function historiesReplay(client: Client, code: WorkflowBundleWithSourceMap): Promise<InvariantResult> {
  const violations: string[] = [];
  let n = 0;
  for await (const wf of client.workflow.list()) {
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    n += 1;
    try {
      await Worker.runReplayHistory({ workflowBundle: { code: code.code } }, history, `${wf.workflowId}/${wf.runId}`);
    } catch (err) {
      violations.push(`${wf.workflowId} (run ${wf.runId}): ${(err as Error).message.slice(0, 200)}`);
    }
  }
  return { name: 'every workflow history replays on the current bundle', checked: n, unit: 'histories', violations };
}

/** No process of the soak alive after teardown (workers, replicas, servers: their command lines name its dirs). */
export function noOrphans(alive: readonly { pid: number; cmd: string }[], checked: number): InvariantResult {
  return {
    name: 'no process of the soak alive after teardown',
    checked,
    unit: 'pids seen',
    violations: alive.map((p) => `pid ${p.pid}: ${p.cmd.slice(0, 160)}`),
  };
}

/** Whether a TCP port can be bound on every interface again (nothing listens on it). */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '0.0.0.0', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

export async function noLeakedPorts(hostPorts: readonly { port: number; what: string }[], leftOnHosts: readonly string[]): Promise<InvariantResult> {
  const violations: string[] = [];
  for (const p of hostPorts) if (!(await portFree(p.port))) violations.push(`${p.what} port ${p.port} still bound`);
  for (const l of leftOnHosts) violations.push(`still listening on ${l}`);
  return { name: 'no leaked port (servers, ring ports; namespace hosts listen on nothing)', checked: hostPorts.length, unit: 'ports', violations };
}
