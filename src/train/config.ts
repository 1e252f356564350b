// Training configuration: JSON-serialisable (it travels to replica child processes and into checkpoints), with
// defaults that say why, and validation whose messages name the field.
import { ConfigError, resolveModelConfig, type ModelConfig } from '../model/config.js';
import { COMPRESSIONS, type Compression } from '../parallel/compression.js';

export { ConfigError };

export interface TrainConfig {
  /** Dataset name for openDataset (src/data/index.ts lists them). */
  readonly dataset: string;
  readonly model: ModelConfig;
  /** Total optimiser steps (a resumed run continues up to this). */
  readonly steps: number;
  /** Global batch size, summed over data-parallel replicas. */
  readonly batchSize: number;
  readonly learningRate: number;
  readonly adam: { readonly beta1: number; readonly beta2: number; readonly epsilon: number };
  /** Global gradient-norm clipping; 0 = off. */
  readonly clipNorm: number;
  readonly seed: number;
  /** Read losses back (a device sync) and report them every this many steps. */
  readonly logEvery: number;
  /** Write a checkpoint every this many steps (0 = only at the end). */
  readonly checkpointEvery: number;
  /** Data-parallel: compare parameter checksums across replicas every this many steps (0 = never). */
  readonly consistencyEvery: number;
  /** Held-out ELBO: this many batches of evalBatchSize at the end of training (0 = skip). */
  readonly evalBatches: number;
  readonly evalBatchSize: number;
  /**
   * Held-out ELBO also at these steps (rank 0 only; early stopping's rungs): each is a log step, and its scalars gain
   * elbo, heldout_recon and heldout_kl. Needs evalBatches >= 1.
   */
  readonly evalSteps?: readonly number[];
  /**
   * Checkpoints also at these steps (early stopping's rungs with an evaluation-metric objective: the trial evaluates
   * the checkpoint written there while training goes on). Beside checkpointEvery, not instead of it.
   */
  readonly checkpointSteps?: readonly number[];
  /** Batch sampler; default 'dcign' (one factor varies per batch) for the dcign variant, 'iid' otherwise. */
  readonly sampler?: 'iid' | 'dcign';
  /** dcign sampler: always vary this factor (name or index). */
  readonly variedFactor?: number | string;
  readonly runDir: string;
  /** Checkpoint directory or run directory to resume from. */
  readonly resumeFrom?: string;
  /**
   * 'graph' (default): the step runs as one TensorFlow graph where the model has one (src/graph/vae-step-graph.ts),
   * else eagerly, saying why in the summary and run tags; 'eager': always op by op.
   */
  readonly stepMode: 'graph' | 'eager';
  /**
   * Data-parallel: how gradients travel between replicas (a spec's or run config's `parallel.compression`, `dcign train
   * --compression`): 'none' (float32, the default), 'fp16' or 'bf16' (16 bits on the wire, sums in float32;
   * src/parallel/compression.ts). Absent means none.
   */
  readonly compression?: Compression;
}

export type TrainConfigInput = Partial<Omit<TrainConfig, 'model' | 'adam'>> & {
  readonly model?: Partial<ModelConfig>;
  readonly adam?: Partial<TrainConfig['adam']>;
};

export const DEFAULT_TRAIN: Omit<TrainConfig, 'model' | 'runDir'> = {
  dataset: 'dsprites',
  steps: 300_000, // Locatello et al. 2019
  batchSize: 64, // Higgins et al. 2017 / Locatello et al. 2019
  learningRate: 1e-4, // ditto
  adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }, // Kingma & Ba defaults (TF uses 1e-7; PyTorch 1e-8)
  clipNorm: 0,
  seed: 0,
  logEvery: 100,
  checkpointEvery: 10_000,
  consistencyEvery: 1000,
  evalBatches: 8,
  evalBatchSize: 64,
  stepMode: 'graph',
};

/**
 * The trainer fields a spec's `train` section or a run config file's may set (TrainConfig's own, less those the
 * trainer or the sweep fills in: model and dataset have sections of their own; runDir, resumeFrom, evalSteps and
 * checkpointSteps are set by `dcign train` flags or by the trial).
 */
export const TRAIN_SECTION_FIELDS: readonly string[] = [
  'steps', 'batchSize', 'learningRate', 'adam', 'clipNorm', 'seed', 'logEvery', 'checkpointEvery', 'consistencyEvery',
  'evalBatches', 'evalBatchSize', 'sampler', 'variedFactor', 'stepMode',
];
export const ADAM_FIELDS: readonly string[] = ['beta1', 'beta2', 'epsilon'];
/** The fields of a spec's or run config's `parallel` section (how replicas exchange gradients). */
export const PARALLEL_FIELDS: readonly string[] = ['compression'];

/** Fills defaults and validates; throws ConfigError naming the field. */
export function resolveTrainConfig(input: TrainConfigInput): TrainConfig {
  const model = resolveModelConfig(input.model ?? {});
  const cfg: TrainConfig = {
    ...DEFAULT_TRAIN,
    runDir: '',
    ...stripUndefined(input),
    model,
    adam: { ...DEFAULT_TRAIN.adam, ...input.adam },
  } as TrainConfig;
  if (typeof cfg.dataset !== 'string' || cfg.dataset === '') throw new ConfigError('dataset', 'must name a dataset');
  positiveInt(cfg.steps, 'steps');
  positiveInt(cfg.batchSize, 'batchSize');
  positive(cfg.learningRate, 'learningRate');
  for (const k of ['beta1', 'beta2'] as const) {
    const v = cfg.adam[k];
    if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw new ConfigError(`adam.${k}`, `must be in [0, 1), got ${String(v)}`);
  }
  positive(cfg.adam.epsilon, 'adam.epsilon');
  nonNegative(cfg.clipNorm, 'clipNorm');
  if (!Number.isInteger(cfg.seed) || cfg.seed < 0) throw new ConfigError('seed', `must be a non-negative integer, got ${cfg.seed}`);
  positiveInt(cfg.logEvery, 'logEvery');
  nonNegativeInt(cfg.checkpointEvery, 'checkpointEvery');
  nonNegativeInt(cfg.consistencyEvery, 'consistencyEvery');
  nonNegativeInt(cfg.evalBatches, 'evalBatches');
  positiveInt(cfg.evalBatchSize, 'evalBatchSize');
  if (cfg.evalSteps !== undefined) {
    if (!Array.isArray(cfg.evalSteps)) throw new ConfigError('evalSteps', `must be a list of steps, got ${JSON.stringify(cfg.evalSteps)}`);
    cfg.evalSteps.forEach((s, i) => positiveInt(s, `evalSteps[${i}]`));
    if (cfg.evalSteps.length > 0 && cfg.evalBatches < 1) {
      throw new ConfigError(
        'evalBatches',
        `must be >= 1 to compute the held-out ELBO at evalSteps (${cfg.evalSteps.join(', ')}; early stopping's rungs with \`objective: elbo\`), got 0; ` +
          'set it to 1 or more (default 8)',
      );
    }
  }
  if (cfg.checkpointSteps !== undefined) {
    if (!Array.isArray(cfg.checkpointSteps)) throw new ConfigError('checkpointSteps', `must be a list of steps, got ${JSON.stringify(cfg.checkpointSteps)}`);
    cfg.checkpointSteps.forEach((s, i) => positiveInt(s, `checkpointSteps[${i}]`));
  }
  if (cfg.sampler !== undefined && cfg.sampler !== 'iid' && cfg.sampler !== 'dcign') {
    throw new ConfigError('sampler', `must be 'iid' or 'dcign', got '${String(cfg.sampler)}'`);
  }
  if (cfg.stepMode !== 'graph' && cfg.stepMode !== 'eager') {
    throw new ConfigError('stepMode', `must be 'graph' or 'eager', got '${String(cfg.stepMode)}'`);
  }
  if (cfg.compression !== undefined && !(COMPRESSIONS as readonly string[]).includes(cfg.compression)) {
    throw new ConfigError(
      'parallel.compression',
      `must be one of ${COMPRESSIONS.join(', ')}, got ${JSON.stringify(cfg.compression)} (fp16: IEEE half, |g| <= 65504; bf16: float32's range, 8-bit precision)`,
    );
  }
  if (cfg.model.variant === 'info-vae' && cfg.batchSize < 2) throw new ConfigError('batchSize', 'must be >= 2 for info-vae (MMD)');
  if (typeof cfg.runDir !== 'string' || cfg.runDir === '') throw new ConfigError('runDir', 'must be a directory path');
  return cfg;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function positiveInt(v: unknown, field: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError(field, `must be a positive integer, got ${String(v)}`);
}
function nonNegativeInt(v: unknown, field: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ConfigError(field, `must be a non-negative integer, got ${String(v)}`);
}
function positive(v: unknown, field: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError(field, `must be a positive number, got ${String(v)}`);
}
function nonNegative(v: unknown, field: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigError(field, `must be a non-negative number, got ${String(v)}`);
}
