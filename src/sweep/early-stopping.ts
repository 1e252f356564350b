// The spec's `earlyStopping: {asha: {minSteps, eta}}`: validated with the rest of the spec, and turned into what each
// trial needs (the training scalar to report and the rung steps to report it at). Pure: the sweep workflow calls it.
import { LOSS_OBJECTIVES } from '../contract/types.js';
import type { EarlyStopping, Objective, SweepSpec } from '../contract/types.js';
import { ashaRungs } from './asha.js';

type Bad = (field: string, value: unknown, allowed: string) => void;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Default reduction factor: each rung keeps the top third. */
export const DEFAULT_ETA = 3;

export function validateEarlyStopping(raw: unknown, objective: Objective | undefined, train: Record<string, unknown>, bad: Bad): EarlyStopping | undefined {
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
  let ok = true;
  if (!(Number.isInteger(minSteps) && (minSteps as number) >= 1)) {
    bad('earlyStopping.asha.minSteps', minSteps, 'expected an integer >= 1: the step of the first rung');
    ok = false;
  } else {
    if (Number.isInteger(steps) && (minSteps as number) >= (steps as number)) {
      bad('earlyStopping.asha.minSteps', minSteps, `expected fewer than train.steps (${String(steps)}): no trial would reach a rung before it ends`);
      ok = false;
    }
    if (Number.isInteger(logEvery) && (minSteps as number) < (logEvery as number)) {
      bad('earlyStopping.asha.minSteps', minSteps, `expected at least train.logEvery (${String(logEvery)}): the rung is judged on the losses replicas log`);
      ok = false;
    }
  }
  if (!(Number.isInteger(eta) && (eta as number) >= 2)) {
    bad('earlyStopping.asha.eta', eta, 'expected an integer >= 2 (each rung keeps the top 1/eta)');
    ok = false;
  }
  if (objective === undefined) {
    bad('earlyStopping', raw, `needs an objective to compare trials on: add e.g. \`objective: loss\` (one of ${LOSS_OBJECTIVES.join(', ')})`);
    ok = false;
  } else if (!(LOSS_OBJECTIVES as readonly string[]).includes(objective.metric)) {
    bad(
      'objective',
      objective.metric,
      `early stopping compares trials at rungs on a loss the replicas log while training: one of ${LOSS_OBJECTIVES.join(', ')} ` +
        '(evaluation metrics and the held-out elbo exist only at the end of a trial)',
    );
    ok = false;
  }
  return ok ? { asha: { minSteps: minSteps as number, eta: eta as number } } : undefined;
}

/** What each trial of the spec reports for early stopping; undefined without it. */
export function trialEarlyStopping(spec: SweepSpec, steps: number): { metric: string; rungs: number[] } | undefined {
  if (spec.earlyStopping === undefined || spec.objective === undefined) return undefined;
  return { metric: spec.objective.metric, rungs: ashaRungs(spec.earlyStopping.asha, steps) };
}
