// A sweep's plan, made before anything starts: the expanded trials, the replicas and slots they need, and every
// check a worker would otherwise make too late. Each trial's trainer config goes through the trainer's own validation
// (src/train/config.ts), so a value a replica would refuse is refused here, naming the trial; the dataset name is
// checked for form (an `npz:` file lives on the worker hosts, which open it when a trial starts); a sweep larger than
// MAX_TRIALS_UNCONFIRMED needs the caller to confirm its size.
import { ConfigError, resolveTrainConfig, type TrainConfig, type TrainConfigInput } from '../train/config.js';
import { datasetFile } from '../data/index.js';
import { expandTrials, trainConfigFor } from './expand.js';
import { pbtMembers } from './pbt-plan.js';
import { probeTrials } from '../search/plans.js';
import { trainForEarlyStopping, trialEarlyStopping } from './early-stopping.js';
import { SweepSpecError, type SpecIssue } from './spec.js';
import type { SweepSpec, TrialPlan } from '../contract/types.js';

/** More trials than this need an explicit `--max-trials N` (a typo in a grid can multiply a sweep a hundredfold). */
export const MAX_TRIALS_UNCONFIRMED = 100;

/** What decides a training step's cost: trials that share a shape share a measured step time. */
export interface TrialShape {
  readonly variant: string;
  readonly architecture: string;
  readonly latentSize: number;
  readonly imageSize: number;
  /** The batch each replica trains on (the global batch split over the replicas). */
  readonly batchPerReplica: number;
}

export interface PlannedTrial extends TrialPlan {
  readonly steps: number;
  /** Key of its shape in SweepPlan.shapes. */
  readonly shape: string;
}

export interface SweepPlan {
  readonly spec: SweepSpec;
  readonly trials: readonly PlannedTrial[];
  /** Replicas (one worker slot each: a GPU, or a CPU slot) every trial holds while it trains. */
  readonly replicasPerTrial: number;
  /** Slots busy at once when enough workers poll: min(trials, maxConcurrentTrials) x replicas. */
  readonly slotsAtOnce: number;
  /** Each distinct shape, with the resolved trainer config of its first trial (what a measurement trains). */
  readonly shapes: ReadonlyMap<string, { readonly shape: TrialShape; readonly config: TrainConfig; readonly trials: number }>;
  /** The `npz:` file the workers must hold, if the dataset is one. */
  readonly workerFile?: string;
}

export function shapeKey(s: TrialShape): string {
  return `${s.variant}/${s.architecture}/latent=${s.latentSize}/${s.imageSize}px/batch=${s.batchPerReplica}`;
}

/**
 * Expands and checks a validated spec; throws SweepSpecError listing every problem (the same message for many trials
 * is listed once, with how many trials share it). `maxTrials` is the confirmed ceiling (default MAX_TRIALS_UNCONFIRMED).
 */
export function planSweep(spec: SweepSpec, o: { maxTrials?: number; source?: string } = {}): SweepPlan {
  const issues: SpecIssue[] = [];
  let workerFile: string | undefined;
  try {
    workerFile = datasetFile(spec.dataset);
  } catch (err) {
    issues.push({ field: 'dataset', value: spec.dataset, allowed: (err as Error).message });
  }
  if (workerFile !== undefined && !workerFile.startsWith('/')) {
    // Replicas run in each worker's own working directory: only an absolute path means the same file everywhere.
    issues.push({ field: 'dataset', value: spec.dataset, allowed: `the npz file lives on the worker hosts: give its absolute path there, e.g. npz:/data/${workerFile.split('/').pop() ?? 'dsprites.npz'}` });
  }
  if (workerFile !== undefined && !workerFile.endsWith('.npz')) {
    issues.push({ field: 'dataset', value: spec.dataset, allowed: 'expected a .npz file (numpy.savez writes that extension), e.g. npz:/data/dsprites.npz' });
  }

  const trials: PlannedTrial[] = [];
  const shapes = new Map<string, { shape: TrialShape; config: TrainConfig; trials: number }>();
  // trainer message -> trials it applies to, so a bad value shared by a whole grid is reported once
  const refused = new Map<string, { field: string; value: unknown; keys: string[] }>();
  // search.optimize: Optuna proposes the trials as the sweep runs; the plan checks the corners of its space
  // search.pbt: the members, each with the spec's starting hyperparameters over all of train.steps
  for (const t of spec.search.optimize ? probeTrials(spec) : spec.search.pbt ? pbtMembers(spec) : expandTrials(spec)) {
    // as its replicas will get it (with the held-out ELBO's steps when early stopping compares on it)
    const plain = trainConfigFor(spec, t, `${spec.name}/${t.key}`);
    const json = trainForEarlyStopping(plain, trialEarlyStopping(spec, plain.steps));
    let config: TrainConfig;
    try {
      config = resolveTrainConfig(json as unknown as TrainConfigInput);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const entry = refused.get(err.message) ?? { field: err.field, value: valueAt(json, err.field), keys: [] };
      entry.keys.push(t.key);
      refused.set(err.message, entry);
      continue;
    }
    if (config.batchSize % spec.replicas !== 0) {
      const msg = `batchSize ${config.batchSize} is not a multiple of replicas (${spec.replicas})`;
      const entry = refused.get(msg) ?? { field: 'batchSize', value: config.batchSize, keys: [] };
      entry.keys.push(t.key);
      refused.set(msg, entry);
      continue;
    }
    const shape: TrialShape = {
      variant: config.model.variant,
      architecture: config.model.architecture,
      latentSize: config.model.latentSize,
      imageSize: config.model.imageSize,
      batchPerReplica: config.batchSize / spec.replicas,
    };
    const key = shapeKey(shape);
    const known = shapes.get(key);
    if (known) known.trials += 1;
    else shapes.set(key, { shape, config, trials: 1 });
    trials.push({ ...t, steps: config.steps, shape: key });
  }
  for (const [message, r] of refused) {
    const which = r.keys.length === 1 ? `trial ${r.keys[0]}` : `${r.keys.length} trials (${r.keys.slice(0, 3).join('; ')}${r.keys.length > 3 ? '; ...' : ''})`;
    issues.push({ field: `${which}: ${r.field}`, value: r.value, allowed: `the trainer refuses it (${message}); change the spec value or search axis that sets it` });
  }

  const opt = spec.search.optimize;
  const total = opt ? opt.trials * spec.search.seeds.length : trials.length + [...refused.values()].reduce((n, r) => n + r.keys.length, 0);
  const limit = o.maxTrials ?? MAX_TRIALS_UNCONFIRMED;
  if (total > limit) {
    issues.push({
      field: 'search',
      value: `${total} trials`,
      allowed: `more than ${o.maxTrials === undefined ? `the ${MAX_TRIALS_UNCONFIRMED} a sweep may have unconfirmed` : `--max-trials ${limit}`}; check the grid, then confirm with --max-trials ${total}`,
    });
  }
  if (issues.length > 0) throw new SweepSpecError(issues, o.source ?? spec.name);
  return {
    spec,
    trials,
    replicasPerTrial: spec.replicas,
    slotsAtOnce: Math.min(trials.length, spec.maxConcurrentTrials) * spec.replicas,
    shapes,
    ...(workerFile !== undefined ? { workerFile } : {}),
  };
}

/** The value at a ConfigError's dotted field in the trainer config (for the message). */
function valueAt(cfg: unknown, field: string): unknown {
  let v: unknown = cfg;
  for (const part of field.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}

/** One shape's cost: milliseconds a replica takes per step, and where the figure came from. */
export interface StepTime {
  readonly msPerStep: number;
  readonly source: string;
}

export interface Estimate {
  /** Device-hours (GPU or CPU slots) summed over trials: steps x step time x replicas. */
  readonly slotHours: number;
  /** Wall-clock hours with maxConcurrentTrials trials at once (trials of equal length; a lower bound). */
  readonly wallHours: number;
  readonly perShape: readonly { readonly shape: string; readonly trials: number; readonly steps: number; readonly msPerStep: number; readonly slotHours: number; readonly source: string }[];
}

/** GPU/CPU-hours = sum over trials of steps x step time x replicas. */
export function estimateHours(plan: SweepPlan, stepTimes: ReadonlyMap<string, StepTime>): Estimate {
  const perShape = [...plan.shapes.keys()].map((shape) => {
    const st = stepTimes.get(shape);
    if (st === undefined) throw new Error(`no step time for shape ${shape}`);
    const steps = plan.trials.filter((t) => t.shape === shape).reduce((n, t) => n + t.steps, 0);
    const trials = plan.trials.filter((t) => t.shape === shape).length;
    return { shape, trials, steps, msPerStep: st.msPerStep, slotHours: (steps * st.msPerStep * plan.replicasPerTrial) / 3.6e6, source: st.source };
  });
  const slotHours = perShape.reduce((n, s) => n + s.slotHours, 0);
  const trialHours = perShape.reduce((n, s) => n + (s.steps * s.msPerStep) / 3.6e6, 0);
  const atOnce = Math.max(1, Math.min(plan.trials.length, plan.spec.maxConcurrentTrials));
  return { slotHours, wallHours: trialHours / atOnce, perShape };
}
