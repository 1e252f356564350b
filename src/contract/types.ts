// Sweep spec types and the parameter table: the data that crosses the Temporal boundary (the sweep workflow's input
// and progress). Pure (no I/O), so workflow code may import them.

/** Model variants the trainer knows (src/model/config.ts takes this list). */
export const MODEL_VARIANTS = [
  'beta-vae',
  'annealed-vae',
  'dcign',
  'info-vae',
  'factor-vae',
  'beta-tcvae',
  'dip-vae-i',
  'dip-vae-ii',
] as const;
export type ModelVariant = (typeof MODEL_VARIANTS)[number];

/** Encoder/decoder architectures (src/model/param-specs.ts keeps the same list). */
export const ARCHITECTURES = ['standard', 'residual', 'attention'] as const;
export type ArchitectureName = (typeof ARCHITECTURES)[number];

/** Metrics the evaluate activity can compute (src/metrics). */
export const METRIC_NAMES = ['beta-vae', 'factor-vae', 'mig', 'sap', 'dci', 'irs', 'modularity', 'explicitness', 'elbo'] as const;

/**
 * What a sweep optimises: the key a trial logs to MLflow (an evaluation metric such as `mig` or `dci_disentanglement`,
 * the held-out `elbo`, or a training loss `recon`/`kl`/`loss`) and whether lower or higher is better. `sweep results`
 * sorts by it, the report ranks by it, and early stopping (ASHA) compares trials on it.
 */
export interface Objective {
  readonly metric: string;
  readonly mode: 'min' | 'max';
  /**
   * With search.optimize and several seeds: how a configuration's seed runs become its one value. `mean`, or `lcb`:
   * the pessimistic bound mean -/+ stdErrors x the standard error (minus when higher is better, plus when lower is).
   */
  readonly aggregate?: 'mean' | 'lcb';
  /** The multiple of the standard error `lcb` subtracts (default 1). */
  readonly stdErrors?: number;
}

/** Optuna's samplers a sweep can name (search.optimize.sampler). */
export const SAMPLERS = ['tpe', 'gp', 'cmaes', 'nsga2', 'random'] as const;
export type Sampler = (typeof SAMPLERS)[number];

/**
 * `search.optimize`: Optuna proposes the configurations (ask/tell from an activity; src/search/optuna_driver.py).
 * Each configuration runs once per seed; its value is the spec objective's aggregate over those runs.
 */
export interface OptimizeSearch {
  readonly sampler: Sampler;
  /** Configurations to ask for in all (each runs search.seeds.length trials). */
  readonly trials: number;
  /** Configurations in flight at once (asked together; TPE's constant liar keeps them apart). */
  readonly batch: number;
  /** The samplers' seed. */
  readonly seed: number;
  /** Distributions as search.random has them; search.variants (lists) are a conditional categorical space. */
  readonly params: Readonly<Record<string, Distribution>>;
  /** What Optuna optimises, in order (several: multi-objective, a Pareto front). */
  readonly objectives: readonly Objective[];
  /** NSGA-II's population size and CMA-ES's popsize (default: the sampler's own). */
  readonly population?: number;
  /** Random trials before TPE / GP model the results (Optuna's n_startup_trials, default 10). */
  readonly startup?: number;
}

/** One configuration Optuna proposed: its seed runs (trial keys) and, once they ended, what was told. */
export interface SearchConfig {
  readonly number: number;
  readonly params: Readonly<Record<string, ParamValue>>;
  readonly keys: readonly string[];
  told: boolean;
  state?: 'complete' | 'pruned' | 'failed';
  /** Per objective: the value told to Optuna (the aggregate), the seeds' mean and standard error, and the seeds' values. */
  values?: number[];
  mean?: number[];
  se?: number[];
  seedValues?: number[][];
  pareto?: boolean;
  note?: string;
}

/** The search's state in the sweep's progress (carried through continue-as-new and resume). */
export interface SearchState {
  /** Optuna's study name in its storage, and the storage URL (the worker's; passwords never stored here). */
  readonly study: string;
  storage?: string;
  /** Ask requests made so far (each has an id, so a retried ask returns the same configurations). */
  asks: number;
  readonly configs: SearchConfig[];
  error?: string;
}

/**
 * `search.pbt`: population-based training (Jaderberg et al. 2017, "Population Based Training of Neural Networks",
 * arXiv:1711.09846). `population` members train side by side; every `interval` steps the bottom `quantile` by
 * `fitness` each copy the checkpoint of a member from the top quantile (exploit) and multiply each hyperparameter in
 * `perturb` by one of its factors (explore), drawn from `seed`.
 */
export interface PbtSearch {
  readonly population: number;
  /** Steps per generation: divides train.steps, a multiple of train.checkpointEvery. */
  readonly interval: number;
  /** 0 < q <= 0.5: the share of the population that exploits (bottom) and donates (top) each generation. */
  readonly quantile: number;
  /** Hyperparameter (spec key: beta, learningRate, gamma, ...) -> the factors one of which multiplies it. */
  readonly perturb: Readonly<Record<string, readonly number[]>>;
  /** What ranks the members at each boundary: a training loss, the held-out elbo or an evaluation metric. */
  readonly fitness: Objective;
  readonly seed: number;
}

/** One generation of one member as PBT ran it: where it started from and with which hyperparameters. */
export interface PbtGeneration {
  readonly generation: number;
  /** The step its hyperparameters take effect from (the checkpoint it trains on from). */
  readonly step: number;
  /** The member whose checkpoint it continued: itself, or the donor it exploited. */
  readonly parent: number;
  readonly hyperparameters: Readonly<Record<string, number>>;
  /** The member's fitness at the end of this generation (absent until measured). */
  fitness?: number;
  /** Exploit: the copied checkpoint in the member's run, and whether this copy made it (false: found whole already). */
  copied?: string;
  fresh?: boolean;
}

export interface PbtMember {
  readonly member: number;
  readonly key: string;
  readonly lineage: PbtGeneration[];
}

/** The PBT workflow's state in the sweep's progress. */
export interface PbtState {
  readonly generations: number;
  /** The generation running now (generations when done). */
  generation: number;
  readonly members: PbtMember[];
}

/** Objectives read from training losses: lower is better. Every other objective defaults to higher is better. */
export const LOSS_OBJECTIVES = ['recon', 'kl', 'loss'] as const;

/**
 * The held-out ELBO's key. The trainer logs it (with heldout_recon, heldout_kl) at the steps TrainConfig.evalSteps
 * lists, so early stopping can compare trials on it at rungs; higher is better.
 */
export const HELDOUT_ELBO = 'elbo';

/**
 * Early stopping by asynchronous successive halving (ASHA, Li et al. 2020): rungs at minSteps * eta^k steps; a trial
 * reaching a rung continues only if its objective is in the top 1/eta of the values recorded at that rung so far.
 */
export interface EarlyStopping {
  readonly asha: { readonly minSteps: number; readonly eta: number };
}

/** Whether lower or higher is better for a metric key when nobody said: losses are minimised, the rest maximised. */
export function defaultMode(metric: string): Objective['mode'] {
  // the held-out ELBO's parts are losses too (the ELBO itself is higher-is-better)
  return (LOSS_OBJECTIVES as readonly string[]).includes(metric) || metric === 'heldout_recon' || metric === 'heldout_kl' ? 'min' : 'max';
}

/**
 * The key a trial logs for each spec metric name (its headline figure; the others stay in `--all`): `dci` logs
 * dci_disentanglement, completeness and informativeness; `beta-vae` its train and eval accuracies.
 */
export const METRIC_HEADLINE: Readonly<Record<(typeof METRIC_NAMES)[number], string>> = {
  'beta-vae': 'beta_vae_eval',
  'factor-vae': 'factor_vae_eval',
  mig: 'mig',
  sap: 'sap',
  dci: 'dci_disentanglement',
  irs: 'irs',
  modularity: 'modularity',
  explicitness: 'explicitness_test',
  elbo: 'elbo',
};

export type ParamValue = number | string | boolean;

/** A distribution a random search draws one parameter from. */
export type Distribution =
  | { readonly uniform: readonly [number, number] }
  | { readonly logUniform: readonly [number, number] }
  | { readonly intUniform: readonly [number, number] }
  | { readonly choice: readonly ParamValue[] };

export interface SearchSpace {
  /** Cartesian product: every combination of these values. Keys name the parameter they set (see PARAMS). */
  readonly grid: Readonly<Record<string, readonly ParamValue[]>>;
  /** Random search: `count` points drawn deterministically from `seed`, crossed with the grid. */
  readonly random?: {
    readonly count: number;
    readonly seed: number;
    readonly params: Readonly<Record<string, Distribution>>;
  };
  /**
   * Variants crossed with everything else, each with its own grid (disentanglement_lib's chainit of one product per
   * model): `{factor-vae: {gamma: [10, 40]}, beta-vae: {beta: [1, 4]}}`. A variant's grid may hold only parameters
   * that belong to it (VARIANT_PARAMS) or to every variant (latentSize, architecture, learningRate, ...).
   */
  readonly variants?: Readonly<Partial<Record<ModelVariant, Readonly<Record<string, readonly ParamValue[]>>>>>;
  /** Optuna proposes configurations from the results so far (instead of grid and random). */
  readonly optimize?: OptimizeSearch;
  /** Population-based training (instead of grid, random and optimize). */
  readonly pbt?: PbtSearch;
  /** Seeds are a first-class axis (Locatello et al.: seeds matter about as much as beta); crossed with everything. */
  readonly seeds: readonly number[];
}

export interface SweepSpec {
  readonly name: string;
  /** openDataset name: 'dsprites', 'dsprites-small', 'scenes', 'faces', 'shapes3d', 'npz:<path>', 'images:<folder>'. */
  readonly dataset: string;
  /** Fixed model settings; search axes override them per trial. `variant` is required unless the search crosses variants. */
  readonly model: Readonly<Record<string, unknown>> & { readonly variant?: ModelVariant };
  readonly train: {
    readonly steps: number;
    /** Global batch (split across replicas). */
    readonly batchSize: number;
    readonly learningRate: number;
    readonly logEvery: number;
    readonly checkpointEvery: number;
    readonly [key: string]: unknown;
  };
  readonly search: SearchSpace;
  readonly replicas: number;
  /** How the replicas exchange gradients; absent: float32 on the wire (spec `parallel: {compression: fp16}`). */
  readonly parallel?: { readonly compression: 'fp16' | 'bf16' };
  readonly evaluation: {
    readonly enabled: boolean;
    readonly metrics: readonly string[];
    readonly numTrain: number;
    readonly numTest: number;
    readonly [key: string]: unknown;
  };
  readonly maxConcurrentTrials: number;
  readonly retry: {
    /** Restarts of a trial's whole replica group (from its last checkpoint) before the trial counts as failed. */
    readonly maxGroupRestarts: number;
    /** A replica that stays silent this long is presumed dead (its worker crashed). */
    readonly heartbeatTimeoutSeconds: number;
    /** Retries of the bookkeeping activities (MLflow runs, evaluation). */
    readonly activityMaxAttempts: number;
  };
  readonly taskQueue: string;
  /** Durable checkpoints: the newest `keep` per trial stay in its MLflow run, older ones are deleted. */
  readonly checkpoints: { readonly keep: number };
  /** Optional: what the sweep optimises (spec `objective: mig` or `{metric: recon, mode: min}`). */
  readonly objective?: Objective;
  /** Optional: stop trials that fall behind on the objective (needs `objective`). */
  readonly earlyStopping?: EarlyStopping;
}

export type ParamKind = 'positive' | 'nonneg' | 'int' | 'any' | 'variant' | 'architecture';

/**
 * Parameters with a short name for trial keys and where they land in the trainer config. A parameter with `variants`
 * belongs to those variants only, and may land at a different path for each (gamma: annealed-vae's capacity weight,
 * factor-vae's TC weight); `path` is its place for the first of them.
 */
export const PARAMS: Readonly<
  Record<string, { readonly path: string; readonly short: string; readonly kind: ParamKind; readonly variants?: Readonly<Partial<Record<ModelVariant, string>>> }>
> = {
  variant: { path: 'model.variant', short: 'variant', kind: 'variant' },
  architecture: { path: 'model.architecture', short: 'arch', kind: 'architecture' },
  beta: { path: 'model.beta', short: 'beta', kind: 'nonneg', variants: { 'beta-vae': 'model.beta', dcign: 'model.beta', 'beta-tcvae': 'model.beta' } },
  gamma: {
    path: 'model.capacity.gamma',
    short: 'gamma',
    kind: 'nonneg',
    variants: { 'annealed-vae': 'model.capacity.gamma', 'factor-vae': 'model.factorVae.gamma' },
  },
  capacity: { path: 'model.capacity.cMax', short: 'C', kind: 'nonneg', variants: { 'annealed-vae': 'model.capacity.cMax' } },
  lambda: { path: 'model.mmd.lambda', short: 'lambda', kind: 'nonneg', variants: { 'info-vae': 'model.mmd.lambda' } },
  alpha: { path: 'model.mmd.alpha', short: 'alpha', kind: 'any', variants: { 'info-vae': 'model.mmd.alpha' } },
  lambdaOd: { path: 'model.dip.lambdaOd', short: 'lambda_od', kind: 'nonneg', variants: { 'dip-vae-i': 'model.dip.lambdaOd', 'dip-vae-ii': 'model.dip.lambdaOd' } },
  lambdaDFactor: {
    path: 'model.dip.lambdaDFactor',
    short: 'lambda_d_factor',
    kind: 'nonneg',
    variants: { 'dip-vae-i': 'model.dip.lambdaDFactor', 'dip-vae-ii': 'model.dip.lambdaDFactor' },
  },
  latentSize: { path: 'model.latentSize', short: 'latent', kind: 'int' },
  learningRate: { path: 'train.learningRate', short: 'lr', kind: 'positive' },
  batchSize: { path: 'train.batchSize', short: 'batch', kind: 'int' },
  steps: { path: 'train.steps', short: 'steps', kind: 'int' },
};

/** Each variant's own parameter, the one its summary plots against (Locatello et al. 2019, Table 2 / Fig. 5). */
export const VARIANT_AXIS: Readonly<Record<ModelVariant, string>> = {
  'beta-vae': 'beta',
  'annealed-vae': 'capacity',
  dcign: 'beta',
  'info-vae': 'lambda',
  'factor-vae': 'gamma',
  'beta-tcvae': 'beta',
  'dip-vae-i': 'lambdaOd',
  'dip-vae-ii': 'lambdaOd',
};

/** Model config sections that belong to some variants only (an explicit `model.<section>.x` search path). */
export const VARIANT_SECTIONS: Readonly<Record<string, readonly ModelVariant[]>> = {
  capacity: ['annealed-vae'],
  dcign: ['dcign'],
  mmd: ['info-vae'],
  factorVae: ['factor-vae'],
  dip: ['dip-vae-i', 'dip-vae-ii'],
};

/** The variants a search key belongs to; undefined = every variant (latentSize, architecture, train.x ...). */
export function paramVariants(key: string): readonly ModelVariant[] | undefined {
  const def = PARAMS[key];
  if (def?.variants !== undefined) return Object.keys(def.variants) as ModelVariant[];
  if (def !== undefined) return undefined;
  const parts = key.split('.');
  if (parts[0] !== 'model') return undefined;
  if (parts.length === 2 && parts[1] === 'beta') return Object.keys(PARAMS.beta?.variants ?? {}) as ModelVariant[];
  return parts.length > 2 ? VARIANT_SECTIONS[parts[1] as string] : undefined;
}

/** The variants whose own parameter `key` is, as text for messages: "gamma (model.factorVae.gamma)". */
export function ownParams(variant: ModelVariant): string[] {
  return Object.entries(PARAMS)
    .filter(([, d]) => d.variants?.[variant] !== undefined)
    .map(([k, d]) => `${k} (${d.variants?.[variant] ?? d.path})`);
}

const PARAM_PATH = /^(model|train)\.[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/;

/**
 * Where a search key lands: a known short parameter (for `variant` when its place depends on it), or an explicit
 * `model.x` / `train.x` path. Undefined for an unknown key, or one that does not belong to `variant`.
 */
export function paramPath(key: string, variant?: string): string | undefined {
  const def = PARAMS[key];
  if (def !== undefined) {
    if (def.variants === undefined || variant === undefined) return def.path;
    return def.variants[variant as ModelVariant];
  }
  return PARAM_PATH.test(key) ? key : undefined;
}

/** The variants a spec trains: those of search.variants, else the grid's `variant` values, else model.variant. */
export function specVariants(spec: Pick<SweepSpec, 'model' | 'search'>): ModelVariant[] {
  if (spec.search.variants !== undefined) return Object.keys(spec.search.variants) as ModelVariant[];
  const grid = spec.search.grid.variant;
  if (grid !== undefined) return grid as ModelVariant[];
  const random = spec.search.random?.params.variant;
  if (random !== undefined && 'choice' in random) return random.choice as ModelVariant[];
  return spec.model.variant === undefined ? [] : [spec.model.variant];
}

/** One point of the search space. `key` is stable and readable (e.g. `beta=4,latent=10,seed=1`). */
export interface TrialPlan {
  readonly key: string;
  /** Search parameters by spec key (beta, latentSize, train.x ...); the seed is separate. */
  readonly params: Readonly<Record<string, ParamValue>>;
  readonly seed: number;
}

/**
 * What the trainer receives (src/train/config.ts TrainConfig): JSON-serialisable. Kept loose here so the
 * orchestration does not depend on the trainer's module; the trainer validates it.
 */
export interface TrainConfigJson {
  readonly dataset: string;
  readonly model: Readonly<Record<string, unknown>>;
  readonly steps: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
  readonly logEvery: number;
  readonly checkpointEvery: number;
  readonly runDir: string;
  /** A local checkpoint directory; the worker sets it (after fetching a durable checkpoint), not the workflow. */
  readonly resumeFrom?: string;
  readonly [key: string]: unknown;
}

/**
 * `paused`: stopped at a step boundary by `sweep pause` after storing a checkpoint; it holds no slot and continues from
 * that checkpoint on resume. `pending`, `running`, `restarting`, `evaluating` and `paused` are not yet ended.
 * `stopped`: ended early by the sweep's early stopping (not a failure).
 */
export type TrialState = 'pending' | 'running' | 'restarting' | 'evaluating' | 'paused' | 'completed' | 'stopped' | 'failed' | 'cancelled';

/** What the sweep knows about one trial (the progress query returns these). */
export interface TrialStatus {
  readonly key: string;
  readonly params: Readonly<Record<string, ParamValue>>;
  readonly seed: number;
  state: TrialState;
  step: number;
  generation: number;
  losses: Record<string, number>;
  metrics: Record<string, number>;
  checkpointUri?: string;
  /** The step checkpointUri holds (where the trial continues after a pause or a resume). */
  checkpointStep?: number;
  mlflowRunId?: string;
  error?: string;
  /** Objective value at each early-stopping rung it reached (rung step -> value): the records ASHA compares. */
  rungs?: Record<string, number>;
  /** Why early stopping stopped it (set when the sweep decides; a trial that had trained to its end completes anyway). */
  stopped?: string;
  startedAt?: number;
  endedAt?: number;
}

/** The sweep's progress query result, and its final result. */
export interface SweepProgress {
  readonly name: string;
  state: 'running' | 'paused' | 'cancelling' | 'cancelled' | 'completed';
  readonly maxConcurrentTrials: number;
  readonly trials: TrialStatus[];
  experimentId?: string;
  parentRunId?: string;
  /** How many times the sweep continued as new (history kept small). */
  continuedAsNew: number;
  /** How many times an ended run of this sweep was continued (`dcign sweep resume` / `retry`); absent before. */
  resumed?: number;
  /** search.optimize: Optuna's study and the configurations it proposed. */
  search?: SearchState;
  /** search.pbt: each member's lineage. */
  pbt?: PbtState;
}
