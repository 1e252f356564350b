// Asynchronous successive halving, after Li et al. 2020, "A System for Massively Parallel Hyperparameter Tuning"
// (MLSys; arXiv:1810.05934), Algorithm 2 (ASHA). Rungs sit at r_min * eta^k steps; a trial reaching rung k is promoted
// (trains on) if it is in the top 1/eta of the trials recorded at rung k so far, itself included, else it stops.
// This is the stopping form of the rule, decided as each trial arrives (as Optuna's SuccessiveHalvingPruner does):
// nobody waits for a rung to fill, so early arrivals are promoted on few records and only later ones can be stopped.
// Pure and deterministic: the sweep workflow calls it.

export interface AshaRule {
  /** r_min: the first rung's step. */
  readonly minSteps: number;
  /** Reduction factor: each rung keeps the top 1/eta. */
  readonly eta: number;
}

/** Rung steps r_min * eta^k below the trial's last step (reaching the end is completion, not a rung). */
export function ashaRungs(rule: AshaRule, steps: number): number[] {
  const rungs: number[] = [];
  for (let r = rule.minSteps; r < steps; r *= rule.eta) rungs.push(Math.round(r));
  return rungs;
}

export interface AshaDecision {
  readonly promote: boolean;
  /** How many of the recorded trials (itself included) are promoted at this rung: max(1, floor(n / eta)). */
  readonly kept: number;
  /** Records at the rung, itself included. */
  readonly recorded: number;
  /** The worst value still promoted (the kept-th best). */
  readonly cutoff: number;
}

/**
 * Whether a trial with `value` at a rung trains on, given the values `others` recorded there before it. Ties with the
 * cutoff are promoted; a value that is not a number (a diverged loss) is never better than a number.
 */
export function ashaDecide(value: number, others: readonly number[], mode: 'min' | 'max', eta: number): AshaDecision {
  const score = (v: number): number => (Number.isNaN(v) ? -Infinity : mode === 'min' ? -v : v);
  const all = [...others, value].map(score).sort((a, b) => b - a); // best first
  const kept = Math.max(1, Math.floor(all.length / eta));
  const cut = all[kept - 1] as number;
  return { promote: score(value) >= cut, kept, recorded: all.length, cutoff: mode === 'min' ? -cut : cut };
}
