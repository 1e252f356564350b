// The spec's `search.pbt` (population-based training, Jaderberg et al. 2017, arXiv:1711.09846): validated with the
// rest of the spec, so `sweep plan` refuses a PBT that could not run as written, naming the field and the fix.
import { HELDOUT_ELBO, LOSS_OBJECTIVES, PARAMS, defaultMode, paramPath } from '../contract/types.js';
import type { ModelVariant, Objective, PbtSearch } from '../contract/types.js';
import { checkComputed } from './optimize-spec.js';

type Bad = (field: string, value: unknown, allowed: string) => void;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => Number.isInteger(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Keys the trainer's held-out ELBO logs on the last step of every generation (train.evalBatches >= 1). */
export const HELDOUT_KEYS = [HELDOUT_ELBO, 'heldout_recon', 'heldout_kl'];

/** Hyperparameters PBT may perturb for these variants: numeric ones that belong to every variant trained. */
export function perturbable(variants: readonly ModelVariant[]): string[] {
  return Object.entries(PARAMS)
    .filter(([key, d]) => (d.kind === 'positive' || d.kind === 'nonneg') && variants.every((v) => paramPath(key, v) !== undefined))
    .map(([key]) => key);
}

export interface PbtContext {
  readonly train: Record<string, unknown>;
  readonly model: Record<string, unknown>;
  readonly variants: readonly ModelVariant[];
  readonly evaluation: Record<string, unknown>;
  readonly objective: Objective | undefined;
  readonly seeds: unknown;
  /** Which other ways to search the spec names (PBT replaces them all). */
  readonly others: readonly string[];
  readonly earlyStopping: boolean;
}

/** The value a perturbed hyperparameter starts from: the spec's own (model.beta, train.learningRate, ...). */
export function startingValue(key: string, variant: string, model: Record<string, unknown>, train: Record<string, unknown>): unknown {
  const path = (paramPath(key, variant) ?? key).split('.');
  let v: unknown = path[0] === 'train' ? train : path[0] === 'model' ? model : undefined;
  for (const part of path.slice(1)) v = isRecord(v) ? v[part] : undefined;
  return v;
}

export function validatePbt(raw: unknown, ctx: PbtContext, bad: Bad): PbtSearch | undefined {
  if (raw === undefined) return undefined;
  const f = 'search.pbt';
  if (!isRecord(raw)) {
    bad(f, raw, 'expected a mapping {population, interval, quantile, perturb, fitness}');
    return undefined;
  }
  let ok = true;
  const no = (field: string, value: unknown, why: string): void => {
    bad(field, value, why);
    ok = false;
  };
  const allowed = ['population', 'interval', 'quantile', 'perturb', 'fitness', 'seed'];
  for (const k of Object.keys(raw)) if (!allowed.includes(k)) no(`${f}.${k}`, raw[k], `unknown field; allowed: ${allowed.join(', ')}`);
  for (const other of ctx.others) no(`search.${other}`, other, 'search.pbt trains one population and searches by exploit and explore: remove search.' + other);
  if (ctx.earlyStopping) no('earlyStopping', 'asha', 'PBT replaces its bottom members instead of stopping them: remove earlyStopping');

  const population = raw.population;
  if (!(isInt(population) && population >= 2 && population <= 256)) no(`${f}.population`, population, 'expected an integer in 2..256: the members trained side by side');

  const steps = ctx.train.steps;
  const every = ctx.train.checkpointEvery;
  const interval = raw.interval;
  if (!(isInt(interval) && interval >= 1)) no(`${f}.interval`, interval, 'expected an integer >= 1: steps between exploit/explore boundaries');
  else {
    if (isInt(steps) && (steps % interval !== 0 || interval >= steps)) {
      no(`${f}.interval`, interval, `expected a divisor of train.steps (${steps}) smaller than it, so every generation ends on a boundary and there are at least two; e.g. ${divisorNear(steps, interval)}`);
    }
    if (isInt(every) && every >= 1 && interval % every !== 0) {
      no(`${f}.interval`, interval, `expected a multiple of train.checkpointEvery (${every}): a member resumes from the checkpoint written at each boundary; set checkpointEvery to a divisor of ${interval}`);
    }
  }

  const quantile = raw.quantile ?? 0.25;
  if (!(isNum(quantile) && quantile > 0 && quantile <= 0.5)) no(`${f}.quantile`, quantile, 'expected a number with 0 < quantile <= 0.5: the share that exploits (bottom) and donates (top)');
  else if (isInt(population) && population >= 2 && Math.floor(quantile * population) < 1) {
    no(`${f}.quantile`, quantile, `expected quantile x population >= 1: with ${population} members, ${quantile} replaces nobody; use at least ${(1 / population).toFixed(3)}`);
  }

  const keys = perturbable(ctx.variants);
  const perturb: Record<string, number[]> = {};
  if (!isRecord(raw.perturb) || Object.keys(raw.perturb).length === 0) {
    no(`${f}.perturb`, raw.perturb, `expected a mapping from hyperparameter to its factors, e.g. {learningRate: [0.8, 1.2]}; allowed for ${ctx.variants.join(', ') || 'this model'}: ${keys.join(', ')}`);
  } else
    for (const [key, factors] of Object.entries(raw.perturb)) {
      const field = `${f}.perturb.${key}`;
      if (!keys.includes(key)) {
        no(field, key, `cannot perturb ${key} for ${ctx.variants.join(', ') || 'this model'}; allowed: ${keys.join(', ')}`);
        continue;
      }
      if (!Array.isArray(factors) || factors.length === 0 || !factors.every((x) => isNum(x) && x > 0)) {
        no(field, factors, 'expected a non-empty list of factors > 0, one of which multiplies the value at each explore (e.g. [0.8, 1.2])');
        continue;
      }
      for (const variant of ctx.variants) {
        const start = startingValue(key, variant, ctx.model, ctx.train);
        if (!(isNum(start) && start > 0)) {
          no(field, key, `${key} needs a starting value > 0 to multiply: set ${paramPath(key, variant) ?? key} in the spec (now ${JSON.stringify(start)})`);
        }
      }
      perturb[key] = factors as number[];
    }

  const fitness = fitnessOf(raw.fitness, ctx, no);
  const seed = raw.seed ?? 0;
  if (!(isInt(seed) && seed >= 0)) no(`${f}.seed`, seed, 'expected an integer >= 0 (the exploit and explore draws)');
  if (Array.isArray(ctx.seeds) && isInt(population) && ctx.seeds.length !== 1 && ctx.seeds.length !== population) {
    no('search.seeds', ctx.seeds, `with search.pbt expected one seed (member m trains with seed + m) or one per member (${population})`);
  }
  if (!ok || fitness === undefined) return undefined;
  return { population: population as number, interval: interval as number, quantile: quantile as number, perturb, fitness, seed: seed as number };
}

function fitnessOf(raw: unknown, ctx: PbtContext, no: Bad): Objective | undefined {
  const field = 'search.pbt.fitness';
  const given = raw ?? (ctx.objective ? { metric: ctx.objective.metric, mode: ctx.objective.mode } : undefined);
  const metric = typeof given === 'string' ? given : isRecord(given) ? given.metric : undefined;
  if (typeof metric !== 'string' || !/^[A-Za-z0-9_.-]{1,100}$/.test(metric)) {
    no(field, raw, 'expected what ranks the members: a training loss (loss, recon, kl), the held-out elbo, or an evaluation metric such as mig; or {metric, mode}');
    return undefined;
  }
  if (isRecord(given)) for (const k of Object.keys(given)) if (k !== 'metric' && k !== 'mode') no(`${field}.${k}`, given[k], 'unknown field; allowed: metric, mode');
  const mode = isRecord(given) && given.mode !== undefined ? given.mode : defaultMode(metric);
  if (mode !== 'min' && mode !== 'max') {
    no(`${field}.mode`, mode, 'expected min (lower is better) or max (higher is better)');
    return undefined;
  }
  if (HELDOUT_KEYS.includes(metric)) {
    if (ctx.train.evalBatches === 0) no(field, metric, `${metric} is the held-out ELBO the trainer computes at the end of each generation: set train.evalBatches >= 1 (now 0)`);
  } else if (!(LOSS_OBJECTIVES as readonly string[]).includes(metric)) checkComputed(field, metric, ctx.evaluation, no);
  return { metric, mode };
}

function divisorNear(steps: number, interval: number): number {
  let best = 1;
  for (let d = 1; d < steps; d++) if (steps % d === 0 && Math.abs(d - interval) < Math.abs(best - interval)) best = d;
  return best;
}
