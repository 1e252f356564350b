// Expands a sweep spec's search space into trials with stable keys, and builds each trial's trainer config.
// Pure and deterministic (no I/O, no Math.random): the sweep workflow calls it, so it must replay identically.
import { Rng } from '../random.js';
import { PARAMS, paramPath, paramVariants } from '../contract/types.js';
import type { Distribution, ModelVariant, ParamValue, SweepSpec, TrainConfigJson, TrialPlan } from '../contract/types.js';

/** Short display name of a parameter in trial keys (beta, latent, lr, ...). */
export function shortName(key: string): string {
  return PARAMS[key]?.short ?? key;
}

/** Canonical text of a value in a key: numbers without float noise (6 significant digits). */
export function formatValue(v: ParamValue): string {
  if (typeof v !== 'number') return String(v);
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(6)));
}

export function trialKey(params: Readonly<Record<string, ParamValue>>, seed: number): string {
  return [...Object.entries(params).map(([k, v]) => `${shortName(k)}=${formatValue(v)}`), `seed=${seed}`].join(',');
}

function draw(rng: Rng, d: Distribution): ParamValue {
  if ('choice' in d) return d.choice[rng.int(d.choice.length)] as ParamValue;
  if ('intUniform' in d) return d.intUniform[0] + rng.int(d.intUniform[1] - d.intUniform[0] + 1);
  if ('logUniform' in d) {
    const [lo, hi] = d.logUniform;
    return Number(Math.exp(Math.log(lo) + rng.float() * (Math.log(hi) - Math.log(lo))).toPrecision(6));
  }
  const [lo, hi] = d.uniform;
  return Number((lo + rng.float() * (hi - lo)).toPrecision(6));
}

function product(points: Record<string, ParamValue>[], grid: Readonly<Record<string, readonly ParamValue[]>>): Record<string, ParamValue>[] {
  for (const [key, values] of Object.entries(grid)) {
    points = points.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  }
  return points;
}

/**
 * search.variants (each variant x its own grid, chained in spec order) x grid (cartesian product, in spec order) x
 * random points (deterministic from search.random.seed) x seeds.
 */
export function expandTrials(spec: SweepSpec): TrialPlan[] {
  if (spec.search.optimize) return []; // Optuna proposes the trials as the sweep runs (workflows/optimize.ts)
  const variants = spec.search.variants;
  let points: Record<string, ParamValue>[] =
    variants === undefined ? [{}] : Object.entries(variants).flatMap(([variant, grid]) => product([{ variant }], grid ?? {}));
  points = product(points, spec.search.grid);
  const random = spec.search.random;
  if (random) {
    const rng = new Rng(random.seed);
    const drawn: Record<string, ParamValue>[] = [];
    for (let i = 0; i < random.count; i++) {
      const point: Record<string, ParamValue> = {};
      for (const [key, d] of Object.entries(random.params)) point[key] = draw(rng, d);
      drawn.push(point);
    }
    points = points.flatMap((p) => drawn.map((r) => ({ ...p, ...r })));
  }
  const trials: TrialPlan[] = [];
  const seen = new Set<string>();
  for (const params of points) {
    for (const seed of spec.search.seeds) {
      const key = trialKey(params, seed);
      if (seen.has(key)) continue; // random choices can repeat a point
      seen.add(key);
      trials.push({ key, params, seed });
    }
  }
  return trials;
}

/**
 * Parses a point given on the command line (`beta=3,latent=10,seed=0`; short or full parameter names) into a trial.
 * Parameters are put in the order the spec's search space names them; throws naming the offending part.
 */
export function parsePoint(spec: SweepSpec, text: string): TrialPlan {
  const byShort = new Map<string, string>();
  const variantKeys = Object.values(spec.search.variants ?? {}).flatMap((g) => Object.keys(g ?? {}));
  for (const k of [...Object.keys(PARAMS), ...Object.keys(spec.search.grid), ...variantKeys, ...Object.keys(spec.search.random?.params ?? {})]) {
    byShort.set(k, k);
    byShort.set(shortName(k), k);
  }
  const params: Record<string, ParamValue> = {};
  let seed: number | undefined;
  for (const part of text.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`point ${JSON.stringify(text)}: ${JSON.stringify(part)} is not NAME=VALUE`);
    const name = part.slice(0, eq).trim();
    const raw = part.slice(eq + 1).trim();
    const num = Number(raw);
    const value: ParamValue = raw === 'true' ? true : raw === 'false' ? false : raw !== '' && Number.isFinite(num) ? num : raw;
    if (name === 'seed') {
      if (!(Number.isInteger(value) && (value as number) >= 0)) throw new Error(`point ${JSON.stringify(text)}: seed must be an integer >= 0, got ${raw}`);
      seed = value as number;
      continue;
    }
    const key = byShort.get(name) ?? (paramPath(name) !== undefined ? name : undefined);
    if (key === undefined) {
      throw new Error(`point ${JSON.stringify(text)}: unknown parameter ${JSON.stringify(name)}; expected one of ${[...byShort.keys()].join(', ')} or a model./train. path`);
    }
    const kind = PARAMS[key]?.kind;
    if ((kind === 'variant' || kind === 'architecture') && typeof value !== 'string') throw new Error(`point ${JSON.stringify(text)}: ${name} must be a name, got ${raw}`);
    if (kind !== undefined && kind !== 'variant' && kind !== 'architecture' && kind !== 'any' && typeof value !== 'number') throw new Error(`point ${JSON.stringify(text)}: ${name} must be a number, got ${raw}`);
    if (kind === 'int' && !(Number.isInteger(value) && (value as number) >= 1)) throw new Error(`point ${JSON.stringify(text)}: ${name} must be an integer >= 1, got ${raw}`);
    if (kind === 'positive' && !((value as number) > 0)) throw new Error(`point ${JSON.stringify(text)}: ${name} must be > 0, got ${raw}`);
    if (kind === 'nonneg' && !((value as number) >= 0)) throw new Error(`point ${JSON.stringify(text)}: ${name} must be >= 0, got ${raw}`);
    params[key] = value;
  }
  if (seed === undefined) throw new Error(`point ${JSON.stringify(text)}: name a seed (e.g. seed=0)`);
  const variant = String(params.variant ?? spec.model.variant ?? '');
  for (const key of Object.keys(params)) {
    const owners = paramVariants(key);
    if (owners !== undefined && !owners.includes(variant as ModelVariant)) {
      throw new Error(`point ${JSON.stringify(text)}: ${key} does not belong to ${variant || 'the sweep\'s variant'}; it is a parameter of ${owners.join(', ')}`);
    }
  }
  const order = [
    ...(spec.search.variants === undefined ? [] : ['variant']),
    ...new Set(variantKeys),
    ...Object.keys(spec.search.grid),
    ...Object.keys(spec.search.random?.params ?? {}),
  ];
  const ordered: Record<string, ParamValue> = {};
  for (const k of order) if (k in params) ordered[k] = params[k] as ParamValue;
  for (const [k, v] of Object.entries(params)) if (!(k in ordered)) ordered[k] = v;
  return { key: trialKey(ordered, seed), params: ordered, seed };
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let obj = target;
  for (const part of path.slice(0, -1)) {
    const next = obj[part];
    const copy: Record<string, unknown> = typeof next === 'object' && next !== null ? { ...(next as Record<string, unknown>) } : {};
    obj[part] = copy;
    obj = copy;
  }
  obj[path[path.length - 1] as string] = value;
}

/** The trainer config of one trial: spec defaults, then the trial's parameters, then its seed and run folder. */
export function trainConfigFor(spec: SweepSpec, trial: TrialPlan, runDir: string): TrainConfigJson {
  const cfg: Record<string, unknown> = { ...spec.train, dataset: spec.dataset, model: { ...spec.model } };
  // gamma lands at model.capacity.gamma for annealed-vae and at model.factorVae.gamma for factor-vae (PARAMS).
  const variant = String(trial.params.variant ?? spec.model.variant ?? '');
  for (const [key, value] of Object.entries(trial.params)) {
    const path = (paramPath(key, variant) ?? paramPath(key) ?? key).split('.');
    // train.x lands at the config's top level (TrainConfig has steps, batchSize, ... there).
    setPath(cfg, path[0] === 'train' ? path.slice(1) : path, value);
  }
  if (spec.parallel) cfg.compression = spec.parallel.compression;
  cfg.seed = trial.seed;
  cfg.runDir = runDir;
  return cfg as TrainConfigJson;
}
