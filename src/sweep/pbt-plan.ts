// Population-based training's rules as pure functions (Jaderberg et al. 2017, arXiv:1711.09846, Sec. 3 and A.1:
// "truncation selection" exploit, "perturb" explore): the members, their trainer config per generation, who exploits
// whom at a boundary and the perturbed hyperparameters. Deterministic from the spec's pbt.seed (no Math.random):
// workflows/pbt.ts calls these, so they must replay identically.
import { Rng, mixSeed } from '../random.js';
import type { Objective, PbtSearch, SweepSpec, TrainConfigJson, TrialPlan } from '../contract/types.js';
import { trainConfigFor } from './expand.js';
import { HELDOUT_KEYS, startingValue } from './pbt-spec.js';

export function pbtOf(spec: SweepSpec): PbtSearch {
  const pbt = spec.search.pbt;
  if (!pbt) throw new Error(`sweep ${spec.name} has no search.pbt`);
  return pbt;
}

/** Generations: train.steps / interval (the spec checks it divides). */
export function pbtGenerations(spec: SweepSpec): number {
  const pbt = pbtOf(spec);
  return spec.train.steps / pbt.interval;
}

/** Member m's seed: search.seeds[m] with one seed per member, else search.seeds[0] + m. */
export function memberSeed(spec: SweepSpec, m: number): number {
  const { seeds } = spec.search;
  return seeds.length === 1 ? (seeds[0] as number) + m : (seeds[m] as number);
}

export function memberKey(m: number, seed: number): string {
  return `member=${m},seed=${seed}`;
}

/** The members as trials: each keeps its key (its Temporal id and MLflow run) while its hyperparameters change. */
export function pbtMembers(spec: SweepSpec): TrialPlan[] {
  const pbt = pbtOf(spec);
  const start = startingHyperparameters(spec);
  return Array.from({ length: pbt.population }, (_, m) => {
    const seed = memberSeed(spec, m);
    return { key: memberKey(m, seed), params: start, seed };
  });
}

/** The perturbed hyperparameters' values in the spec (every member starts there; seeds tell them apart). */
export function startingHyperparameters(spec: SweepSpec): Record<string, number> {
  const pbt = pbtOf(spec);
  const variant = String(spec.model.variant ?? '');
  return Object.fromEntries(Object.keys(pbt.perturb).map((k) => [k, startingValue(k, variant, spec.model, spec.train) as number]));
}

/** Member m's trainer config for a generation: its current hyperparameters, trained up to that generation's end. */
export function generationTrainConfig(spec: SweepSpec, member: TrialPlan, hyperparameters: Readonly<Record<string, number>>, generation: number): TrainConfigJson {
  const pbt = pbtOf(spec);
  const cfg = trainConfigFor(spec, { ...member, params: hyperparameters }, `${spec.name}/${member.key}`);
  const end = (generation + 1) * pbt.interval;
  // a held-out fitness: rank 0 computes the held-out ELBO at the boundary, so its last step carries it
  return { ...cfg, steps: end, ...(HELDOUT_KEYS.includes(pbt.fitness.metric) ? { evalSteps: [end] } : {}) };
}

export interface Exploit {
  readonly member: number;
  readonly donor: number;
}

/**
 * Truncation selection: ranks the members by fitness (a missing or non-finite one ranks last; ties by member
 * number), and each of the bottom floor(quantile x population) copies a member of the top as many, drawn at random
 * among those with a measured fitness.
 */
export function chooseExploits(fitness: readonly (number | undefined)[], objective: Pick<Objective, 'mode'>, quantile: number, rng: Rng): Exploit[] {
  const n = Math.floor(quantile * fitness.length);
  const score = (m: number): number => {
    const v = fitness[m];
    if (v === undefined || !Number.isFinite(v)) return -Infinity;
    return objective.mode === 'max' ? v : -v;
  };
  const ranked = fitness.map((_, m) => m).sort((a, b) => score(b) - score(a) || a - b); // best first
  // a donor needs a measured fitness: with none measured, nobody is better than anybody and nothing is exploited
  const top = ranked.slice(0, n).filter((m) => score(m) > -Infinity);
  if (top.length === 0) return [];
  const bottom = ranked.slice(ranked.length - n);
  return bottom.map((member) => ({ member, donor: top[rng.int(top.length)] as number }));
}

/** Explore: each hyperparameter times one of its factors (6 significant digits, as trial keys print them). */
export function perturb(hyperparameters: Readonly<Record<string, number>>, factors: PbtSearch['perturb'], rng: Rng): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(hyperparameters)) {
    const fs = factors[key];
    out[key] = fs === undefined ? value : Number((value * (fs[rng.int(fs.length)] as number)).toPrecision(6));
  }
  return out;
}

/** The draws of one boundary: the same for every replay and every continued run of the workflow. */
export function boundaryRng(pbt: PbtSearch, generation: number): Rng {
  return new Rng(mixSeed(pbt.seed, generation));
}
