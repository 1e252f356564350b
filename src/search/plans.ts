// From a sweep spec to what Optuna searches, and from a configuration Optuna proposed to the sweep's trials (one per
// seed). Pure: the sweep workflow calls it.
import { trialKey } from '../sweep/expand.js';
import type { Distribution, ParamValue, SweepSpec, TrialPlan } from '../contract/types.js';

/** The driver's space (src/search/optuna_driver.py): variants (their grid lists as choices) and the shared params. */
export interface DriverSpace {
  readonly params: Readonly<Record<string, Distribution>>;
  readonly variants?: Readonly<Record<string, Readonly<Record<string, Distribution>>>>;
}

export function driverSpace(spec: SweepSpec): DriverSpace {
  const opt = spec.search.optimize;
  if (!opt) throw new Error(`sweep ${spec.name} has no search.optimize`);
  const variants = spec.search.variants;
  return {
    params: opt.params,
    ...(variants
      ? {
          variants: Object.fromEntries(
            Object.entries(variants).map(([v, grid]) => [v, Object.fromEntries(Object.entries(grid ?? {}).map(([k, values]) => [k, { choice: values }]))]),
          ),
        }
      : {}),
  };
}

/** The trials of configuration `number`: one per seed, keyed `trial=<number>,<params>,seed=<s>`. */
export function configTrials(spec: SweepSpec, number: number, params: Readonly<Record<string, ParamValue>>): TrialPlan[] {
  return spec.search.seeds.map((seed) => ({ key: `trial=${number},${trialKey(params, seed)}`, params, seed }));
}

/** Optuna's directions, in objective order. */
export function directions(spec: SweepSpec): ('maximize' | 'minimize')[] {
  return (spec.search.optimize?.objectives ?? []).map((o) => (o.mode === 'max' ? 'maximize' : 'minimize'));
}

function corner(d: Distribution, high: boolean): ParamValue {
  if ('choice' in d) return d.choice[high ? d.choice.length - 1 : 0] as ParamValue;
  const [lo, hi] = 'uniform' in d ? d.uniform : 'logUniform' in d ? d.logUniform : d.intUniform;
  return high ? hi : lo;
}

/**
 * What `sweep plan` checks for a search Optuna will propose: the space's low and high corners for each variant, on
 * the first seed (the trainer's checks see the extremes any proposal lies between).
 */
export function probeTrials(spec: SweepSpec): TrialPlan[] {
  const space = driverSpace(spec);
  const seed = spec.search.seeds[0] ?? 0;
  const variants = space.variants ? Object.entries(space.variants) : [[undefined, {}] as const];
  const out: TrialPlan[] = [];
  for (const [variant, own] of variants) {
    for (const high of [false, true]) {
      const params: Record<string, ParamValue> = variant === undefined ? {} : { variant };
      for (const [k, d] of Object.entries(own)) params[k] = corner(d, high);
      for (const [k, d] of Object.entries(space.params)) params[k] = corner(d, high);
      const key = `probe=${high ? 'high' : 'low'},${trialKey(params, seed)}`;
      if (!out.some((t) => t.key === key)) out.push({ key, params, seed });
    }
  }
  return out;
}
