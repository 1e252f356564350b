// Seed-aware objectives and the Pareto front of a search. Pure: the sweep workflow and `sweep results` call it.
// A configuration is judged on all its seeds (Locatello et al. 2019, "Challenging Common Assumptions in the
// Unsupervised Learning of Disentangled Representations": random seeds move the metrics about as much as beta):
// `mean`, or the pessimistic bound mean - k * SE (higher is better) / mean + k * SE (lower is better), SE = s / sqrt(n)
// with the sample standard deviation s. Pareto dominance as in Deb et al. 2002 (NSGA-II).
import type { Objective, SearchConfig, TrialStatus } from '../contract/types.js';

export interface Aggregate {
  readonly value: number;
  readonly mean: number;
  /** Standard error of the mean over seeds (0 for one seed). */
  readonly se: number;
}

export function aggregate(values: readonly number[], objective: Objective): Aggregate {
  const n = values.length;
  if (n === 0) throw new Error('aggregate of no values');
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) : 0;
  const se = Math.sqrt(variance / n);
  if (objective.aggregate !== 'lcb') return { value: mean, mean, se };
  const k = objective.stdErrors ?? 1;
  return { value: objective.mode === 'max' ? mean - k * se : mean + k * se, mean, se };
}

/** The value a trial reached on an objective key: evaluation metrics first, then the training losses. */
export function trialValue(t: Pick<TrialStatus, 'metrics' | 'losses'>, metric: string): number | undefined {
  const v = t.metrics[metric] ?? t.losses[metric];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** What Optuna is told about a configuration whose seed runs have all ended. */
export interface Outcome {
  readonly state: 'complete' | 'pruned' | 'failed';
  readonly values?: number[];
  readonly mean?: number[];
  readonly se?: number[];
  readonly seedValues?: number[][];
  readonly note?: string;
}

/**
 * A configuration's outcome from its seed runs: pruned when early stopping stopped any of them (ASHA judged it), failed
 * when any failed, was cancelled or lacks an objective's value, else each objective's aggregate over the seeds.
 */
export function outcomeOf(runs: readonly TrialStatus[], objectives: readonly Objective[]): Outcome {
  const stopped = runs.filter((r) => r.state === 'stopped');
  if (stopped.length > 0) return { state: 'pruned', note: `stopped early: ${stopped.map((r) => r.key).join('; ')}` };
  const bad = runs.filter((r) => r.state !== 'completed');
  if (bad.length > 0) return { state: 'failed', note: bad.map((r) => `${r.key} ${r.state}${r.error ? `: ${r.error}` : ''}`).join('; ') };
  const seedValues: number[][] = [];
  for (const o of objectives) {
    const vs = runs.map((r) => trialValue(r, o.metric));
    const missing = runs.filter((_, i) => vs[i] === undefined);
    if (missing.length > 0) return { state: 'failed', note: `no ${o.metric} from ${missing.map((r) => r.key).join('; ')}` };
    seedValues.push(vs as number[]);
  }
  const aggs = objectives.map((o, i) => aggregate(seedValues[i] as number[], o));
  return { state: 'complete', values: aggs.map((a) => a.value), mean: aggs.map((a) => a.mean), se: aggs.map((a) => a.se), seedValues };
}

/** a dominates b: no worse on every objective and better on one. */
function dominates(a: readonly number[], b: readonly number[], objectives: readonly Objective[]): boolean {
  let better = false;
  for (let i = 0; i < objectives.length; i++) {
    const sign = objectives[i]?.mode === 'max' ? 1 : -1;
    const d = sign * ((a[i] as number) - (b[i] as number));
    if (d < 0) return false;
    if (d > 0) better = true;
  }
  return better;
}

/** Numbers of the completed configurations no other completed one dominates (on the told values). */
export function paretoFront(configs: readonly SearchConfig[], objectives: readonly Objective[]): Set<number> {
  const done = configs.filter((c) => c.state === 'complete' && c.values !== undefined);
  return new Set(done.filter((c) => !done.some((o) => o !== c && dominates(o.values as number[], c.values as number[], objectives))).map((c) => c.number));
}

/** The best completed configuration of a single-objective search (undefined before one completes). */
export function bestConfig(configs: readonly SearchConfig[], objective: Objective): SearchConfig | undefined {
  let best: SearchConfig | undefined;
  for (const c of configs) {
    const v = c.state === 'complete' ? c.values?.[0] : undefined;
    if (v === undefined) continue;
    const b = best?.values?.[0];
    if (b === undefined || (objective.mode === 'max' ? v > b : v < b)) best = c;
  }
  return best;
}
