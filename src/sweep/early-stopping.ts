// The spec's `earlyStopping: {asha: {minSteps, eta}}`: validated with the rest of the spec, and turned into what each
// trial needs (the value to report and the rung steps to report it at). The objective is a training loss; or the
// held-out ELBO, which rank 0 then computes at each rung step (TrainConfig.evalSteps); or an evaluation metric the spec
// lists (mig, dci_disentanglement, ...), computed on a checkpoint the trainer writes at each rung step
// (TrainConfig.checkpointSteps) while training goes on. Pure: workflows call it.
import { HELDOUT_ELBO, LOSS_OBJECTIVES, METRIC_HEADLINE, METRIC_NAMES } from '../contract/types.js';
import type { EarlyStopping, Objective, SweepSpec, TrainConfigJson } from '../contract/types.js';
import { ashaRungs } from './asha.js';

type Bad = (field: string, value: unknown, allowed: string) => void;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Objectives the replicas compute while training: the training losses and the held-out ELBO. */
const RUNG_OBJECTIVES: readonly string[] = [...LOSS_OBJECTIVES, HELDOUT_ELBO];

/**
 * The spec metric (evaluation.metrics name) whose headline key is `objective`, e.g. `dci` for dci_disentanglement;
 * undefined for the losses and the held-out `elbo`, which the trainer computes itself (cheaper than an evaluation).
 */
export function evaluationMetricFor(objective: string): (typeof METRIC_NAMES)[number] | undefined {
  if (objective === HELDOUT_ELBO) return undefined;
  return METRIC_NAMES.find((m) => METRIC_HEADLINE[m] === objective);
}

/** Default reduction factor: each rung keeps the top third. */
export const DEFAULT_ETA = 3;

export function validateEarlyStopping(
  raw: unknown,
  objective: Objective | undefined,
  train: Record<string, unknown>,
  evaluation: Record<string, unknown>,
  bad: Bad,
): EarlyStopping | undefined {
  if (raw === undefined) return undefined;
  const form = 'expected {asha: {minSteps: <steps to the first rung>, eta: <keep the top 1/eta at each rung, default 3>}}';
  if (!isRecord(raw) || !isRecord(raw.asha)) {
    bad('earlyStopping', raw, form);
    return undefined;
  }
  for (const k of Object.keys(raw)) if (k !== 'asha') bad(`earlyStopping.${k}`, raw[k], 'unknown field; allowed: asha');
  const { asha } = raw;
  for (const k of Object.keys(asha)) if (k !== 'minSteps' && k !== 'eta') bad(`earlyStopping.asha.${k}`, asha[k], 'unknown field; allowed: minSteps, eta');
  const minSteps = asha.minSteps;
  const eta = asha.eta ?? DEFAULT_ETA;
  const steps = train.steps;
  const logEvery = train.logEvery;
  const heldOut = objective?.metric === HELDOUT_ELBO;
  const evalMetric = objective === undefined ? undefined : evaluationMetricFor(objective.metric);
  let ok = true;
  if (!(Number.isInteger(minSteps) && (minSteps as number) >= 1)) {
    bad('earlyStopping.asha.minSteps', minSteps, 'expected an integer >= 1: the step of the first rung');
    ok = false;
  } else {
    if (Number.isInteger(steps) && (minSteps as number) >= (steps as number)) {
      bad('earlyStopping.asha.minSteps', minSteps, `expected fewer than train.steps (${String(steps)}): no trial would reach a rung before it ends`);
      ok = false;
    }
    // (the held-out ELBO and evaluation metrics are computed at the rung steps themselves, so any step will do for them)
    if (!heldOut && evalMetric === undefined && Number.isInteger(logEvery) && (minSteps as number) < (logEvery as number)) {
      bad('earlyStopping.asha.minSteps', minSteps, `expected at least train.logEvery (${String(logEvery)}): the rung is judged on the losses replicas log`);
      ok = false;
    }
  }
  if (!(Number.isInteger(eta) && (eta as number) >= 2)) {
    bad('earlyStopping.asha.eta', eta, 'expected an integer >= 2 (each rung keeps the top 1/eta)');
    ok = false;
  }
  if (objective === undefined) {
    bad('earlyStopping', raw, `needs an objective to compare trials on: add e.g. \`objective: loss\` (one of ${RUNG_OBJECTIVES.join(', ')})`);
    ok = false;
  } else if (heldOut) {
    const evalBatches = train.evalBatches;
    if (evalBatches !== undefined && !(Number.isInteger(evalBatches) && (evalBatches as number) >= 1)) {
      bad(
        'train.evalBatches',
        evalBatches,
        `expected an integer >= 1 with \`objective: ${HELDOUT_ELBO}\` and earlyStopping: the held-out ELBO at each rung is the mean over ` +
          'that many evaluation batches (remove train.evalBatches for the default 8, or set it to 1 or more)',
      );
      ok = false;
    }
  } else if (evalMetric !== undefined) {
    // Each rung evaluates the checkpoint written there on the spec's metrics: the objective must be among them.
    const metrics = Array.isArray(evaluation.metrics) ? (evaluation.metrics as unknown[]) : [];
    if (evaluation.enabled !== true) {
      bad(
        'evaluation.enabled',
        evaluation.enabled,
        `expected true with \`objective: ${objective.metric}\` and earlyStopping: each rung evaluates the trial's checkpoint there ` +
          '(set evaluation.enabled: true, or compare trials on a training loss or elbo instead)',
      );
      ok = false;
    } else if (!metrics.includes(evalMetric)) {
      bad(
        'objective',
        objective.metric,
        `objective ${objective.metric} needs ${evalMetric} in evaluation.metrics: early stopping evaluates each rung's checkpoint on ` +
          `the metrics listed there (add ${evalMetric} to evaluation.metrics, now [${metrics.map(String).join(', ')}])`,
      );
      ok = false;
    }
  } else if (!(LOSS_OBJECTIVES as readonly string[]).includes(objective.metric)) {
    const headlines = METRIC_NAMES.filter((m) => m !== HELDOUT_ELBO).map((m) => METRIC_HEADLINE[m]);
    bad(
      'objective',
      objective.metric,
      `early stopping compares trials at rungs on a training loss, the held-out ELBO or an evaluation metric: one of ${RUNG_OBJECTIVES.join(', ')}, ` +
        `or the key of a metric in evaluation.metrics (${headlines.join(', ')})`,
    );
    ok = false;
  }
  return ok ? { asha: { minSteps: minSteps as number, eta: eta as number } } : undefined;
}

/** What a trial reports for early stopping: the objective's key, the rung steps, and whether it is evaluated there. */
export interface TrialEarlyStopping {
  readonly metric: string;
  readonly rungs: readonly number[];
  /** An evaluation metric: computed on the checkpoint the trainer writes at each rung, not read from its scalars. */
  readonly evaluated?: boolean;
}

/** What each trial of the spec reports for early stopping; undefined without it. */
export function trialEarlyStopping(spec: SweepSpec, steps: number): TrialEarlyStopping | undefined {
  if (spec.earlyStopping === undefined || spec.objective === undefined) return undefined;
  const rungs = ashaRungs(spec.earlyStopping.asha, steps);
  return evaluationMetricFor(spec.objective.metric) === undefined ? { metric: spec.objective.metric, rungs } : { metric: spec.objective.metric, rungs, evaluated: true };
}

/**
 * The trainer config a trial's replicas get: with the held-out ELBO as the objective, rank 0 computes it at each rung
 * and at the last step (so a completed trial's last scalars carry it for `sweep results` and the report); with an
 * evaluation metric, rank 0 writes a checkpoint at each rung for the trial to evaluate.
 */
export function trainForEarlyStopping(train: TrainConfigJson, earlyStopping: TrialEarlyStopping | undefined): TrainConfigJson {
  if (earlyStopping?.evaluated === true) {
    const own = Array.isArray(train.checkpointSteps) ? (train.checkpointSteps as number[]) : [];
    return { ...train, checkpointSteps: [...new Set([...own, ...earlyStopping.rungs])].sort((a, b) => a - b) };
  }
  if (earlyStopping?.metric !== HELDOUT_ELBO) return train;
  return { ...train, evalSteps: [...new Set([...earlyStopping.rungs, train.steps])] };
}
