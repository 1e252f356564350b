// Sweep specs: sweeps/*.yaml hold data only (after disentanglement_lib's hyperparams: a grid is a product of `sweep`s,
// a random search draws points from named distributions, seeds are their own axis). Everything is validated before a
// sweep starts; every problem is reported at once, each naming the field, the value and what is allowed.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

import { DEFAULT_KEEP_CHECKPOINTS } from '../contract/checkpoint.js';
import { MODEL_CONFIG_FIELDS } from '../model/config.js';
import { ADAM_FIELDS, PARALLEL_FIELDS, TRAIN_SECTION_FIELDS } from '../train/config.js';
import { COMPRESSIONS, type Compression } from '../parallel/compression.js';
import { ARCHITECTURES, defaultMode, MODEL_VARIANTS, METRIC_NAMES, PARAMS, paramPath, specVariants } from '../contract/types.js';
import type { Distribution, ModelVariant, Objective, ParamValue, SearchSpace, SweepSpec } from '../contract/types.js';
import { checkSharedKeys, validateVariantGrids } from './variants.js';
import { validateEarlyStopping } from './early-stopping.js';
import { validateAggregate, validateOptimize } from './optimize-spec.js';
import { validatePbt } from './pbt-spec.js';

export * from '../contract/types.js';

export interface SpecIssue {
  readonly field: string;
  readonly value: unknown;
  readonly allowed: string;
}

export class SweepSpecError extends Error {
  constructor(
    readonly issues: readonly SpecIssue[],
    readonly source = 'sweep spec',
  ) {
    super(
      `${source} is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` +
        issues.map((i) => `  - ${i.field}: got ${show(i.value)}; ${i.allowed}`).join('\n'),
    );
    this.name = 'SweepSpecError';
  }
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown): v is number => Number.isInteger(v);

const EVALUATION_FIELDS = ['enabled', 'metrics', 'numTrain', 'numTest'];

/** Reports each key of `obj` outside `allowed` (the field lists are declared once, beside the configs they fill). */
function unknownKeys(obj: Readonly<Record<string, unknown>>, allowed: readonly string[], prefix: string, bad: (f: string, v: unknown, a: string) => void): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) bad(`${prefix}.${k}`, obj[k], `unknown field; allowed: ${allowed.join(', ')}`);
}

/** Parses and validates YAML text; throws SweepSpecError listing every problem. */
export function parseSweepSpec(text: string, source = 'sweep spec'): SweepSpec {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new SweepSpecError([{ field: '(file)', value: (err as Error).message.split('\n')[0], allowed: 'expected valid YAML' }], source);
  }
  return validateSweepSpec(raw, source);
}

export function loadSweepSpec(file: string): SweepSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read sweep spec ${file}: ${(err as Error).message}`);
  }
  return parseSweepSpec(text, file);
}

/** Validates a parsed object and fills defaults; throws SweepSpecError listing every problem. */
export function validateSweepSpec(raw: unknown, source = 'sweep spec'): SweepSpec {
  const issues: SpecIssue[] = [];
  const bad = (field: string, value: unknown, allowed: string): void => void issues.push({ field, value, allowed });
  if (!isRecord(raw)) throw new SweepSpecError([{ field: '(top level)', value: raw, allowed: 'expected a mapping of fields' }], source);

  const known = ['name', 'dataset', 'model', 'train', 'search', 'replicas', 'parallel', 'evaluation', 'maxConcurrentTrials', 'retry', 'taskQueue', 'checkpoints', 'objective', 'earlyStopping'];
  for (const k of Object.keys(raw)) if (!known.includes(k)) bad(k, raw[k], `unknown field; allowed fields: ${known.join(', ')}`);

  const name = raw.name;
  if (typeof name !== 'string' || !NAME.test(name)) bad('name', name, 'expected lower-case letters, digits, ".", "_" or "-" (1-63 characters)');
  const dataset = raw.dataset;
  if (typeof dataset !== 'string' || dataset.length === 0) bad('dataset', dataset, "expected a dataset name such as 'dsprites', 'scenes' or 'npz:<path>'");

  // model
  const model: Record<string, unknown> = isRecord(raw.model) ? { ...raw.model } : {};
  const crossing = isRecord(raw.search) && (raw.search.variants !== undefined || (isRecord(raw.search.grid) && raw.search.grid.variant !== undefined));
  if (!isRecord(raw.model)) bad('model', raw.model, 'expected a mapping with at least `variant`');
  else {
    // A sweep that crosses variants (search.variants or a grid `variant` list) needs no fixed one.
    if (!(crossing && model.variant === undefined) && !MODEL_VARIANTS.includes(model.variant as ModelVariant)) {
      bad('model.variant', model.variant, `expected one of ${MODEL_VARIANTS.join(', ')}${crossing ? '' : ' (or cross several with search.variants)'}`);
    }
    if (model.architecture !== undefined && !(ARCHITECTURES as readonly unknown[]).includes(model.architecture)) {
      bad('model.architecture', model.architecture, `expected one of ${ARCHITECTURES.join(', ')}`);
    }
    if (model.beta !== undefined && !(isNum(model.beta) && model.beta >= 0)) bad('model.beta', model.beta, 'expected a number >= 0');
    if (model.latentSize !== undefined && !(isInt(model.latentSize) && model.latentSize >= 1)) bad('model.latentSize', model.latentSize, 'expected an integer >= 1');
    if (model.imageSize !== undefined && model.imageSize !== 32 && model.imageSize !== 64) bad('model.imageSize', model.imageSize, 'expected 32 or 64');
    for (const [section, fields] of Object.entries(MODEL_CONFIG_FIELDS)) {
      const obj = section === '' ? model : model[section];
      if (isRecord(obj)) unknownKeys(obj, fields, section === '' ? 'model' : `model.${section}`, bad);
    }
  }

  // train
  const trainRaw = isRecord(raw.train) ? raw.train : {};
  if (raw.train !== undefined && !isRecord(raw.train)) bad('train', raw.train, 'expected a mapping');
  const train = { learningRate: 1e-4, logEvery: 10, checkpointEvery: 100, ...trainRaw } as Record<string, unknown>;
  // The trainer ignores a field it does not know, so a misspelt one (`learningrate`) would train on the default.
  unknownKeys(trainRaw, TRAIN_SECTION_FIELDS, 'train', bad);
  if (isRecord(trainRaw.adam)) unknownKeys(trainRaw.adam, ADAM_FIELDS, 'train.adam', bad);
  const posInt = (field: string, v: unknown): void => {
    if (!(isInt(v) && v >= 1)) bad(field, v, 'expected an integer >= 1');
  };
  posInt('train.steps', train.steps);
  posInt('train.batchSize', train.batchSize);
  posInt('train.logEvery', train.logEvery);
  posInt('train.checkpointEvery', train.checkpointEvery);
  if (!(isNum(train.learningRate) && train.learningRate > 0)) bad('train.learningRate', train.learningRate, 'expected a number > 0');

  // search
  const search = validateSearch(raw.search, bad);
  if (search !== undefined) {
    // every variant-owned parameter on the shared axes must belong to every variant trained
    const named = search.variants !== undefined ? Object.keys(search.variants) : ((search.grid.variant as string[] | undefined) ?? [String(model.variant)]);
    const crossed = named.filter((v) => MODEL_VARIANTS.includes(v as ModelVariant)); // unknown ones are reported above
    const shared = [
      ...Object.keys(search.grid).map((key) => ({ field: `search.grid.${key}`, key })),
      ...Object.keys(search.random?.params ?? {}).map((key) => ({ field: `search.random.params.${key}`, key })),
    ];
    checkSharedKeys(crossed, shared, bad, crossing);
    if (search.variants !== undefined && search.grid.variant !== undefined) {
      bad('search.grid.variant', search.grid.variant, 'cross variants in one place: search.variants (each with its own grid) or a grid `variant` list, not both');
    }
  }

  const replicas = raw.replicas ?? 1;
  if (!(isInt(replicas) && replicas >= 1 && replicas <= 64)) bad('replicas', replicas, 'expected an integer in 1..64');
  if (isInt(replicas) && isInt(train.batchSize) && replicas >= 1 && train.batchSize % replicas !== 0) {
    bad('train.batchSize', train.batchSize, `expected a multiple of replicas (${replicas}): the global batch is split evenly`);
  }

  // how the replicas exchange gradients
  const parRaw = raw.parallel === undefined ? {} : raw.parallel;
  if (!isRecord(parRaw)) bad('parallel', parRaw, 'expected a mapping such as {compression: fp16}');
  const parallel = isRecord(parRaw) ? parRaw : {};
  unknownKeys(parallel, PARALLEL_FIELDS, 'parallel', bad);
  if (parallel.compression !== undefined && !(COMPRESSIONS as readonly unknown[]).includes(parallel.compression)) {
    bad('parallel.compression', parallel.compression, `expected one of ${COMPRESSIONS.join(', ')} (fp16: IEEE half, |g| <= 65504; bf16: float32's range, 8-bit precision)`);
  }

  // evaluation
  const evRaw = raw.evaluation === undefined ? {} : raw.evaluation;
  if (!isRecord(evRaw)) bad('evaluation', evRaw, 'expected a mapping');
  const evaluation = { enabled: true, metrics: ['mig', 'sap', 'dci'], numTrain: 1000, numTest: 500, ...(isRecord(evRaw) ? evRaw : {}) } as Record<string, unknown>;
  unknownKeys(isRecord(evRaw) ? evRaw : {}, EVALUATION_FIELDS, 'evaluation', bad);
  if (typeof evaluation.enabled !== 'boolean') bad('evaluation.enabled', evaluation.enabled, 'expected true or false');
  if (!Array.isArray(evaluation.metrics)) bad('evaluation.metrics', evaluation.metrics, `expected a list drawn from ${METRIC_NAMES.join(', ')}`);
  else
    evaluation.metrics.forEach((m, i) => {
      if (!METRIC_NAMES.includes(m as (typeof METRIC_NAMES)[number])) bad(`evaluation.metrics[${i}]`, m, `expected one of ${METRIC_NAMES.join(', ')}`);
    });
  posInt('evaluation.numTrain', evaluation.numTrain);
  posInt('evaluation.numTest', evaluation.numTest);

  const maxConcurrentTrials = raw.maxConcurrentTrials ?? 1;
  if (!(isInt(maxConcurrentTrials) && maxConcurrentTrials >= 1)) bad('maxConcurrentTrials', maxConcurrentTrials, 'expected an integer >= 1');

  const retryRaw = raw.retry === undefined ? {} : raw.retry;
  if (!isRecord(retryRaw)) bad('retry', retryRaw, 'expected a mapping');
  const retry = { maxGroupRestarts: 3, heartbeatTimeoutSeconds: 30, activityMaxAttempts: 5, ...(isRecord(retryRaw) ? retryRaw : {}) } as Record<string, unknown>;
  for (const k of Object.keys(retry)) {
    if (!['maxGroupRestarts', 'heartbeatTimeoutSeconds', 'activityMaxAttempts'].includes(k)) {
      bad(`retry.${k}`, retry[k], 'unknown field; allowed: maxGroupRestarts, heartbeatTimeoutSeconds, activityMaxAttempts');
    }
  }
  if (!(isInt(retry.maxGroupRestarts) && retry.maxGroupRestarts >= 0)) bad('retry.maxGroupRestarts', retry.maxGroupRestarts, 'expected an integer >= 0');
  if (!(isNum(retry.heartbeatTimeoutSeconds) && retry.heartbeatTimeoutSeconds >= 1)) bad('retry.heartbeatTimeoutSeconds', retry.heartbeatTimeoutSeconds, 'expected a number of seconds >= 1');
  if (!(isInt(retry.activityMaxAttempts) && retry.activityMaxAttempts >= 1)) bad('retry.activityMaxAttempts', retry.activityMaxAttempts, 'expected an integer >= 1');

  const taskQueue = raw.taskQueue ?? 'dcign-train';
  if (typeof taskQueue !== 'string' || !/^[A-Za-z0-9._-]{1,200}$/.test(taskQueue)) bad('taskQueue', taskQueue, 'expected a task queue name (letters, digits, ".", "_", "-")');

  // Durable checkpoints in each trial's MLflow run: how many of the newest to keep (the rest are deleted as new ones
  // land). One is enough to resume; a few more survive a checkpoint that turns out to be bad.
  const ckRaw = raw.checkpoints === undefined ? {} : raw.checkpoints;
  if (!isRecord(ckRaw)) bad('checkpoints', ckRaw, 'expected a mapping such as {keep: 3}');
  const checkpoints = { keep: DEFAULT_KEEP_CHECKPOINTS, ...(isRecord(ckRaw) ? ckRaw : {}) } as Record<string, unknown>;
  for (const k of Object.keys(checkpoints)) if (k !== 'keep') bad(`checkpoints.${k}`, checkpoints[k], 'unknown field; allowed: keep');
  if (!(isInt(checkpoints.keep) && checkpoints.keep >= 1)) bad('checkpoints.keep', checkpoints.keep, 'expected an integer >= 1 (the newest checkpoints kept per trial)');

  const objective = validateObjective(raw.objective, bad);
  const rawSearch = isRecord(raw.search) ? raw.search : {};
  const optimize = validateOptimize(
    rawSearch.optimize,
    {
      objective,
      evaluation,
      maxConcurrentTrials,
      seeds: search?.seeds,
      variants: rawSearch.variants !== undefined,
      grid: rawSearch.grid !== undefined,
      random: rawSearch.random !== undefined,
      distribution: (field, key, d) => validateDistribution(field, key, d, bad),
      key: (field, key) => validateKey(field, key, bad),
    },
    bad,
  );
  const earlyStopping = validateEarlyStopping(raw.earlyStopping, objective, train, evaluation, bad);
  const pbt = validatePbt(
    rawSearch.pbt,
    {
      train,
      model,
      variants: search ? specVariants({ model: model as SweepSpec['model'], search }) : [],
      evaluation,
      objective,
      seeds: search?.seeds,
      others: (['grid', 'random', 'variants', 'optimize'] as const).filter((k) => rawSearch[k] !== undefined),
      earlyStopping: raw.earlyStopping !== undefined,
    },
    bad,
  );

  if (issues.length > 0) throw new SweepSpecError(issues, source);
  return {
    name: name as string,
    dataset: dataset as string,
    model: model as SweepSpec['model'],
    train: train as SweepSpec['train'],
    search: { ...search, ...(optimize ? { optimize } : {}), ...(pbt ? { pbt } : {}) } as SearchSpace,
    replicas: replicas as number,
    ...(parallel.compression !== undefined && parallel.compression !== 'none' ? { parallel: { compression: parallel.compression as Exclude<Compression, 'none'> } } : {}),
    evaluation: evaluation as SweepSpec['evaluation'],
    maxConcurrentTrials: maxConcurrentTrials as number,
    retry: retry as unknown as SweepSpec['retry'],
    taskQueue: taskQueue as string,
    checkpoints: { keep: checkpoints.keep as number },
    ...(objective !== undefined ? { objective } : {}),
    ...(earlyStopping !== undefined ? { earlyStopping } : {}),
  };
}

/** `objective: mig` (mode from the metric: losses are minimised, the rest maximised) or `{metric, mode}`. */
function validateObjective(raw: unknown, bad: (f: string, v: unknown, a: string) => void): Objective | undefined {
  if (raw === undefined) return undefined;
  const form = 'expected a metric key such as `mig`, `elbo` or `recon`, or a mapping {metric: <key>, mode: min|max}';
  const metric = typeof raw === 'string' ? raw : isRecord(raw) ? raw.metric : undefined;
  if (typeof metric !== 'string' || !/^[A-Za-z0-9_.-]{1,100}$/.test(metric)) {
    bad('objective', raw, form);
    return undefined;
  }
  if (isRecord(raw)) {
    for (const k of Object.keys(raw)) {
      if (!['metric', 'mode', 'aggregate', 'stdErrors'].includes(k)) bad(`objective.${k}`, raw[k], 'unknown field; allowed: metric, mode, aggregate, stdErrors');
    }
  }
  const mode = isRecord(raw) && raw.mode !== undefined ? raw.mode : defaultMode(metric);
  if (mode !== 'min' && mode !== 'max') {
    bad('objective.mode', mode, 'expected min (lower is better) or max (higher is better)');
    return undefined;
  }
  return { metric, mode, ...(isRecord(raw) ? validateAggregate(raw, bad) : {}) };
}

function validateValue(field: string, key: string, v: unknown, bad: (f: string, v: unknown, a: string) => void): void {
  const kind = PARAMS[key]?.kind ?? 'any';
  if (kind === 'variant') {
    if (!MODEL_VARIANTS.includes(v as ModelVariant)) bad(field, v, `expected one of ${MODEL_VARIANTS.join(', ')}`);
  } else if (kind === 'architecture') {
    if (!(ARCHITECTURES as readonly unknown[]).includes(v)) bad(field, v, `expected one of ${ARCHITECTURES.join(', ')}`);
  } else if (kind === 'any') {
    if (!(isNum(v) || typeof v === 'string' || typeof v === 'boolean')) bad(field, v, 'expected a number, string or boolean');
  } else if (kind === 'int') {
    if (!(isInt(v) && v >= 1)) bad(field, v, 'expected an integer >= 1');
  } else if (kind === 'positive') {
    if (!(isNum(v) && v > 0)) bad(field, v, 'expected a number > 0');
  } else if (!(isNum(v) && v >= 0)) bad(field, v, 'expected a number >= 0');
}

function validateKey(field: string, key: string, bad: (f: string, v: unknown, a: string) => void): boolean {
  if (key === 'seed' || key === 'seeds') {
    bad(field, key, 'seeds are their own axis: use search.seeds');
    return false;
  }
  if (paramPath(key) === undefined) {
    bad(field, key, `unknown parameter; expected one of ${Object.keys(PARAMS).join(', ')} or a path like model.capacityMax / train.gradClip`);
    return false;
  }
  return true;
}

function validateSearch(raw: unknown, bad: (f: string, v: unknown, a: string) => void): SearchSpace | undefined {
  if (!isRecord(raw)) {
    bad('search', raw, 'expected a mapping with `seeds` and `grid` and/or `random`');
    return undefined;
  }
  for (const k of Object.keys(raw)) {
    if (!['grid', 'random', 'seeds', 'variants', 'optimize', 'pbt'].includes(k)) bad(`search.${k}`, raw[k], 'unknown field; allowed: grid, variants, random, optimize, pbt, seeds');
  }
  const variants = validateVariantGrids(
    raw.variants,
    bad,
    (field, key) => validateKey(field, key, bad),
    (field, key, v) => validateValue(field, key, v, bad),
  );
  const grid: Record<string, ParamValue[]> = {};
  if (raw.grid !== undefined) {
    if (!isRecord(raw.grid)) bad('search.grid', raw.grid, 'expected a mapping from parameter to a list of values');
    else
      for (const [key, values] of Object.entries(raw.grid)) {
        const field = `search.grid.${key}`;
        if (!validateKey(field, key, bad)) continue;
        if (!Array.isArray(values) || values.length === 0) {
          bad(field, values, 'expected a non-empty list of values');
          continue;
        }
        values.forEach((v, i) => validateValue(`${field}[${i}]`, key, v, bad));
        if (new Set(values.map((v) => JSON.stringify(v))).size !== values.length) bad(field, values, 'expected distinct values');
        grid[key] = values as ParamValue[];
      }
  }
  let random: SearchSpace['random'];
  if (raw.random !== undefined) {
    const r = raw.random;
    if (!isRecord(r)) bad('search.random', r, 'expected a mapping with count, seed and params');
    else {
      if (!(isInt(r.count) && r.count >= 1 && r.count <= 10000)) bad('search.random.count', r.count, 'expected an integer in 1..10000');
      const seed = r.seed ?? 0;
      if (!(isInt(seed) && seed >= 0)) bad('search.random.seed', seed, 'expected an integer >= 0');
      const params: Record<string, Distribution> = {};
      if (!isRecord(r.params) || Object.keys(r.params).length === 0) bad('search.random.params', r.params, 'expected a mapping from parameter to a distribution');
      else
        for (const [key, d] of Object.entries(r.params)) {
          const field = `search.random.params.${key}`;
          if (!validateKey(field, key, bad)) continue;
          if (key in grid) bad(field, key, 'a parameter is either on the grid or drawn at random, not both');
          const dist = validateDistribution(field, key, d, bad);
          if (dist) params[key] = dist;
        }
      random = { count: r.count as number, seed: seed as number, params };
    }
  }
  const seeds = raw.seeds ?? [0];
  if (!Array.isArray(seeds) || seeds.length === 0) bad('search.seeds', seeds, 'expected a non-empty list of integer seeds');
  else {
    seeds.forEach((s, i) => {
      if (!(isInt(s) && s >= 0 && s < 2 ** 32)) bad(`search.seeds[${i}]`, s, 'expected an integer in 0..2^32-1');
    });
    if (new Set(seeds).size !== seeds.length) bad('search.seeds', seeds, 'expected distinct seeds');
  }
  return { grid, ...(variants ? { variants } : {}), ...(random ? { random } : {}), seeds: seeds as number[] };
}

function validateDistribution(field: string, key: string, d: unknown, bad: (f: string, v: unknown, a: string) => void): Distribution | undefined {
  const allowed = 'expected one of {uniform: [lo, hi]}, {logUniform: [lo, hi]}, {intUniform: [lo, hi]}, {choice: [values...]}';
  if (!isRecord(d) || Object.keys(d).length !== 1) {
    bad(field, d, allowed);
    return undefined;
  }
  const [kind, arg] = Object.entries(d)[0] as [string, unknown];
  if (kind === 'choice') {
    if (!Array.isArray(arg) || arg.length === 0) {
      bad(`${field}.choice`, arg, 'expected a non-empty list of values');
      return undefined;
    }
    arg.forEach((v, i) => validateValue(`${field}.choice[${i}]`, key, v, bad));
    return { choice: arg as ParamValue[] };
  }
  if (kind !== 'uniform' && kind !== 'logUniform' && kind !== 'intUniform') {
    bad(field, d, allowed);
    return undefined;
  }
  if (!Array.isArray(arg) || arg.length !== 2 || !isNum(arg[0]) || !isNum(arg[1]) || !(arg[0] < arg[1])) {
    bad(`${field}.${kind}`, arg, 'expected [lo, hi] with lo < hi');
    return undefined;
  }
  const [lo, hi] = arg as [number, number];
  if (kind === 'logUniform' && !(lo > 0)) {
    bad(`${field}.logUniform`, arg, 'expected lo > 0 for a log-uniform range');
    return undefined;
  }
  if (kind === 'intUniform' && !(isInt(lo) && isInt(hi))) {
    bad(`${field}.intUniform`, arg, 'expected integer bounds');
    return undefined;
  }
  validateValue(`${field}.${kind}[0]`, key, lo, bad);
  return { [kind]: [lo, hi] } as unknown as Distribution;
}
