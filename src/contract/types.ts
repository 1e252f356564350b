// Sweep spec types and the parameter table: the data that crosses the Temporal boundary (the sweep workflow's input
// and progress). Pure (no I/O), so workflow code may import them.

/** Model variants the trainer knows (src/train/config.ts). */
export const MODEL_VARIANTS = ['beta-vae', 'annealed-vae', 'dcign', 'info-vae'] as const;
export type ModelVariant = (typeof MODEL_VARIANTS)[number];

/** Metrics the evaluate activity can compute (src/metrics). */
export const METRIC_NAMES = ['beta-vae', 'factor-vae', 'mig', 'sap', 'dci', 'irs', 'modularity', 'explicitness', 'elbo'] as const;

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
  /** Seeds are a first-class axis (Locatello et al.: seeds matter about as much as beta); crossed with everything. */
  readonly seeds: readonly number[];
}

export interface SweepSpec {
  readonly name: string;
  /** openDataset name: 'dsprites', 'dsprites-small', 'scenes', 'npz:<path>'. */
  readonly dataset: string;
  /** Fixed model settings; search axes override them per trial. `variant` is required. */
  readonly model: Readonly<Record<string, unknown>> & { readonly variant: ModelVariant };
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
}

/** Parameters with a short name for trial keys and where they land in the trainer config. */
export const PARAMS: Readonly<Record<string, { readonly path: string; readonly short: string; readonly kind: 'positive' | 'nonneg' | 'int' | 'any' }>> = {
  beta: { path: 'model.beta', short: 'beta', kind: 'nonneg' },
  latentSize: { path: 'model.latentSize', short: 'latent', kind: 'int' },
  learningRate: { path: 'train.learningRate', short: 'lr', kind: 'positive' },
  batchSize: { path: 'train.batchSize', short: 'batch', kind: 'int' },
  steps: { path: 'train.steps', short: 'steps', kind: 'int' },
};

const PARAM_PATH = /^(model|train)\.[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/;

/** Where a search key lands: a known short parameter, or an explicit `model.x` / `train.x` path. */
export function paramPath(key: string): string | undefined {
  if (key in PARAMS) return PARAMS[key]?.path;
  return PARAM_PATH.test(key) ? key : undefined;
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

export type TrialState = 'pending' | 'running' | 'restarting' | 'evaluating' | 'completed' | 'failed' | 'cancelled';

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
  mlflowRunId?: string;
  error?: string;
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
}
