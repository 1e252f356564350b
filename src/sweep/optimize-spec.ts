// The spec's `search.optimize` (Optuna proposes configurations) and the seed-aware objective: validated with the rest
// of the spec, so `sweep plan` refuses what Optuna or the evaluation could not do, naming the field and the fix.
import { LOSS_OBJECTIVES, METRIC_NAMES, SAMPLERS, defaultMode } from '../contract/types.js';
import type { Distribution, Objective, OptimizeSearch, Sampler } from '../contract/types.js';

type Bad = (field: string, value: unknown, allowed: string) => void;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => Number.isInteger(v);

/** Keys each evaluation metric logs besides its headline (src/metrics/evaluate.ts, src/train/evaluate.ts). */
const METRIC_KEYS: Readonly<Record<(typeof METRIC_NAMES)[number], readonly string[]>> = {
  'beta-vae': ['beta_vae_train', 'beta_vae_eval'],
  'factor-vae': ['factor_vae_train', 'factor_vae_eval', 'factor_vae_active_dims'],
  mig: ['mig'],
  sap: ['sap'],
  dci: ['dci_disentanglement', 'dci_completeness', 'dci_informativeness', 'dci_informativeness_train'],
  irs: ['irs'],
  modularity: ['modularity'],
  explicitness: ['explicitness_train', 'explicitness_test'],
  elbo: ['elbo', 'heldout_recon', 'heldout_kl'],
};

/** Every key a trial of this evaluation ends with: its training losses and the listed metrics' keys. */
export function computedKeys(evaluation: Record<string, unknown>): string[] {
  const metrics = evaluation.enabled === true && Array.isArray(evaluation.metrics) ? (evaluation.metrics as string[]) : [];
  return [...LOSS_OBJECTIVES, ...metrics.flatMap((m) => METRIC_KEYS[m as (typeof METRIC_NAMES)[number]] ?? [])];
}

/** Refuses an objective key the trials do not compute, saying which evaluation metric would. */
export function checkComputed(field: string, metric: string, evaluation: Record<string, unknown>, bad: Bad): void {
  const keys = computedKeys(evaluation);
  if (keys.includes(metric)) return;
  const owner = METRIC_NAMES.find((m) => METRIC_KEYS[m].includes(metric));
  const fix =
    owner === undefined
      ? `expected a key the trials compute: one of ${keys.join(', ')}`
      : evaluation.enabled !== true
        ? `${metric} comes from the evaluation, which is off: set evaluation.enabled: true with ${owner} in evaluation.metrics`
        : `${metric} comes from the ${owner} metric, which evaluation.metrics does not list: add ${owner} there (now ${JSON.stringify(evaluation.metrics)})`;
  bad(field, metric, fix);
}

function objectiveOf(field: string, raw: unknown, bad: Bad): Objective | undefined {
  const metric = typeof raw === 'string' ? raw : isRecord(raw) ? raw.metric : undefined;
  if (typeof metric !== 'string' || !/^[A-Za-z0-9_.-]{1,100}$/.test(metric)) {
    bad(field, raw, 'expected a metric key such as `mig` or `heldout_recon`, or {metric: <key>, mode: min|max}');
    return undefined;
  }
  if (isRecord(raw)) for (const k of Object.keys(raw)) if (k !== 'metric' && k !== 'mode') bad(`${field}.${k}`, raw[k], 'unknown field; allowed: metric, mode');
  const mode = isRecord(raw) && raw.mode !== undefined ? raw.mode : defaultMode(metric);
  if (mode !== 'min' && mode !== 'max') {
    bad(`${field}.mode`, mode, 'expected min (lower is better) or max (higher is better)');
    return undefined;
  }
  return { metric, mode };
}

export interface OptimizeContext {
  readonly objective: Objective | undefined;
  readonly evaluation: Record<string, unknown>;
  readonly maxConcurrentTrials: unknown;
  readonly seeds: unknown;
  /** Whether search.variants (a categorical choice of model) is part of the space. */
  readonly variants: boolean;
  readonly grid: boolean;
  readonly random: boolean;
  /** spec.ts's own distribution check (the one search.random uses). */
  readonly distribution: (field: string, key: string, d: unknown) => Distribution | undefined;
  readonly key: (field: string, key: string) => boolean;
}

export function validateOptimize(raw: unknown, ctx: OptimizeContext, bad: Bad): OptimizeSearch | undefined {
  if (raw === undefined) {
    if (ctx.objective?.aggregate !== undefined) {
      bad('objective.aggregate', ctx.objective.aggregate, 'aggregates a configuration over its seeds for search.optimize: add search.optimize, or remove it');
    }
    return undefined;
  }
  const f = 'search.optimize';
  if (!isRecord(raw)) {
    bad(f, raw, 'expected a mapping {sampler, trials, batch, params, objectives}');
    return undefined;
  }
  const allowed = ['sampler', 'trials', 'batch', 'seed', 'params', 'objectives', 'population', 'startup'];
  for (const k of Object.keys(raw)) if (!allowed.includes(k)) bad(`${f}.${k}`, raw[k], `unknown field; allowed: ${allowed.join(', ')}`);
  let ok = true;
  const no = (field: string, value: unknown, why: string): void => {
    bad(field, value, why);
    ok = false;
  };
  if (ctx.grid) no('search.grid', 'grid', 'search.optimize proposes every configuration: give the values as {choice: [...]} under search.optimize.params instead');
  if (ctx.random) no('search.random', 'random', 'search.optimize replaces random search (sampler: random is Optuna\'s): move its params under search.optimize.params');
  const sampler = raw.sampler ?? 'tpe';
  if (!(SAMPLERS as readonly unknown[]).includes(sampler)) no(`${f}.sampler`, sampler, `expected one of ${SAMPLERS.join(', ')}`);
  const trials = raw.trials;
  if (!(isInt(trials) && trials >= 1 && trials <= 10000)) no(`${f}.trials`, trials, 'expected an integer in 1..10000: the configurations to try');
  const batch = raw.batch ?? 1;
  if (!(isInt(batch) && batch >= 1)) no(`${f}.batch`, batch, 'expected an integer >= 1: configurations in flight at once');
  else if (isInt(ctx.maxConcurrentTrials) && batch > ctx.maxConcurrentTrials) {
    no(`${f}.batch`, batch, `expected at most maxConcurrentTrials (${ctx.maxConcurrentTrials}): a batch larger than the slots would only wait; raise maxConcurrentTrials or lower batch`);
  }
  const seed = raw.seed ?? 0;
  if (!(isInt(seed) && seed >= 0)) no(`${f}.seed`, seed, 'expected an integer >= 0');
  for (const k of ['population', 'startup'] as const) {
    if (raw[k] !== undefined && !(isInt(raw[k]) && (raw[k] as number) >= (k === 'population' ? 2 : 0))) no(`${f}.${k}`, raw[k], `expected an integer >= ${k === 'population' ? 2 : 0}`);
  }

  const params: Record<string, Distribution> = {};
  if (raw.params !== undefined && !isRecord(raw.params)) no(`${f}.params`, raw.params, 'expected a mapping from parameter to a distribution');
  else
    for (const [key, d] of Object.entries((raw.params as Record<string, unknown> | undefined) ?? {})) {
      const field = `${f}.params.${key}`;
      if (!ctx.key(field, key)) continue;
      const dist = ctx.distribution(field, key, d);
      if (dist) params[key] = dist;
      else ok = false;
    }
  if (Object.keys(params).length === 0 && !ctx.variants) no(`${f}.params`, raw.params, 'expected at least one parameter to search (or search.variants)');

  // objectives: the list, else the spec's objective
  const objectives: Objective[] = [];
  if (raw.objectives !== undefined) {
    if (!Array.isArray(raw.objectives) || raw.objectives.length === 0) no(`${f}.objectives`, raw.objectives, 'expected a non-empty list of metric keys or {metric, mode}');
    else
      raw.objectives.forEach((o, i) => {
        const obj = objectiveOf(`${f}.objectives[${i}]`, o, bad);
        if (obj === undefined) ok = false;
        else {
          checkComputed(`${f}.objectives[${i}]`, obj.metric, ctx.evaluation, no);
          objectives.push(ctx.objective?.aggregate ? { ...obj, aggregate: ctx.objective.aggregate, ...(ctx.objective.stdErrors !== undefined ? { stdErrors: ctx.objective.stdErrors } : {}) } : obj);
        }
      });
  } else if (ctx.objective === undefined) no(`${f}.objectives`, undefined, 'expected what to optimise: search.optimize.objectives, or the spec\'s objective');
  else {
    checkComputed('objective', ctx.objective.metric, ctx.evaluation, no);
    objectives.push(ctx.objective);
  }
  if (new Set(objectives.map((o) => o.metric)).size !== objectives.length) no(`${f}.objectives`, raw.objectives, 'expected distinct metrics');

  // what each sampler can take
  const categorical = ctx.variants || Object.values(params).some((d) => 'choice' in d);
  if (sampler === 'cmaes' && categorical) {
    no(`${f}.sampler`, sampler, 'CMA-ES samples continuous and integer parameters only: this space has categorical ones (search.variants or a {choice}); use tpe, gp or nsga2');
  }
  if ((sampler === 'cmaes' || sampler === 'gp') && objectives.length > 1) {
    no(`${f}.sampler`, sampler, `${sampler} optimises one objective: with ${objectives.length} use nsga2 or tpe (multi-objective), or list one`);
  }
  // the seed-aware objective
  const agg = ctx.objective?.aggregate;
  if (agg === 'lcb' && Array.isArray(ctx.seeds) && ctx.seeds.length < 2) {
    no('objective.aggregate', agg, `lcb needs a standard error, so at least two seeds: search.seeds has ${ctx.seeds.length}; add seeds or use aggregate: mean`);
  }
  if (!ok) return undefined;
  return {
    sampler: sampler as Sampler,
    trials: trials as number,
    batch: batch as number,
    seed: seed as number,
    params,
    objectives,
    ...(raw.population !== undefined ? { population: raw.population as number } : {}),
    ...(raw.startup !== undefined ? { startup: raw.startup as number } : {}),
  };
}

/** Validates the aggregate fields of the spec's objective mapping; returns them. */
export function validateAggregate(raw: Record<string, unknown>, bad: Bad): Pick<Objective, 'aggregate' | 'stdErrors'> {
  const out: { aggregate?: 'mean' | 'lcb'; stdErrors?: number } = {};
  if (raw.aggregate !== undefined) {
    if (raw.aggregate !== 'mean' && raw.aggregate !== 'lcb') bad('objective.aggregate', raw.aggregate, 'expected mean or lcb (mean minus stdErrors standard errors)');
    else out.aggregate = raw.aggregate;
  }
  if (raw.stdErrors !== undefined) {
    if (!(typeof raw.stdErrors === 'number' && Number.isFinite(raw.stdErrors) && raw.stdErrors > 0)) bad('objective.stdErrors', raw.stdErrors, 'expected a number > 0 (e.g. 1 or 1.96)');
    else if (raw.aggregate !== 'lcb') bad('objective.stdErrors', raw.stdErrors, 'applies to aggregate: lcb only');
    else out.stdErrors = raw.stdErrors;
  }
  return out;
}
