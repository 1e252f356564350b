// UDR (src/metrics/udr.ts): conformance with disentanglement_lib's own udr.py on the fixed cases of
// test/fixtures/udr/ (provenance and tolerances in its README), and the behaviour the paper promises on inputs whose
// answer is known: models equal up to permutation and sign score 1, an entangled model scores lower, and inputs UDR
// cannot rank are refused with a message that says why.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Rng } from '../../src/random.js';
import { averageRanks, relativeStrengthDisentanglement, udrFromRepresentations, type UdrCorrelation, type UdrModelSample } from '../../src/metrics/udr.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const casesDir = path.resolve(here, '..', '..', '..', 'test', 'fixtures', 'udr');

interface UdrRun {
  name: string;
  params: { correlation_matrix: UdrCorrelation; filter_low_kl: boolean; kl_filter_threshold: number };
  expected: { model_scores: number[]; pairwise_disentanglement_scores: number[][]; raw_correlations: (number | null)[][][][] };
  tolerance: { model_scores: number; pairwise_disentanglement_scores: number; raw_correlations: number };
}
interface UdrCase {
  case_id: string;
  models: { codes: number[][]; kl: number[] }[];
  runs: UdrRun[];
}

const caseFiles = readdirSync(casesDir).filter((f) => f.endsWith('.json')).sort();

test('the UDR conformance cases are present', (t) => {
  t.true(caseFiles.length >= 2, `expected the UDR cases in ${casesDir}`);
});

function worstDiff(actual: unknown, expected: unknown): number {
  if (Array.isArray(expected)) {
    const a = actual as unknown[];
    if (!Array.isArray(a) || a.length !== expected.length) return Infinity;
    return Math.max(0, ...expected.map((e, i) => worstDiff(a[i], e)));
  }
  const v = actual as number;
  if (expected === null) return Number.isNaN(v) ? 0 : Infinity; // the library's NaN, stored as null
  return Math.abs(v - (expected as number));
}

for (const file of caseFiles) {
  const c = JSON.parse(readFileSync(path.join(casesDir, file), 'utf8')) as UdrCase;
  for (const run of c.runs) {
    test(`${c.case_id} ${run.name}: model scores, pairwise scores and correlations match disentanglement_lib`, (t) => {
      const r = udrFromRepresentations(c.models, {
        correlation: run.params.correlation_matrix,
        filterLowKl: run.params.filter_low_kl,
        klFilterThreshold: run.params.kl_filter_threshold,
      });
      const checks: [keyof UdrRun['tolerance'], unknown][] = [
        ['model_scores', r.modelScores],
        ['pairwise_disentanglement_scores', r.pairwise],
        ['raw_correlations', r.correlations],
      ];
      for (const [key, actual] of checks) {
        const diff = worstDiff(actual, run.expected[key]);
        t.log(`${key}: worst |diff| ${diff.toExponential(2)} (tol ${run.tolerance[key]})`);
        t.true(diff <= run.tolerance[key], `${key}: worst |diff| ${diff} exceeds ${run.tolerance[key]}`);
      }
    });
  }
}

/** Codes of a model that holds `sources` in the given latents (scaled, signed) and noise elsewhere. */
function modelOf(sources: number[][], placement: [number, number][], dims: number, rng: Rng, noise = 0.05): UdrModelSample {
  const codes = sources.map((s) => {
    const row = Array.from({ length: dims }, () => 0.01 * rng.normal());
    placement.forEach(([d, scale], k) => (row[d] = scale * (s[k] as number) + noise * rng.normal()));
    return row;
  });
  const kl = Array.from({ length: dims }, (_, d) => (placement.some(([p]) => p === d) ? 1 : 0.001));
  return { codes, kl };
}

for (const correlation of ['lasso', 'spearman'] as const) {
  test(`${correlation}: seeds that agree up to permutation and sign score near 1, an entangled one lower`, (t) => {
    const rng = new Rng(7);
    const sources = Array.from({ length: 400 }, () => [rng.float() * 2 - 1, rng.float() * 2 - 1, rng.float() * 2 - 1]);
    const c = Math.cos(0.7);
    const s = Math.sin(0.7);
    const rotated = sources.map(([a, b, z]) => [c * (a as number) - s * (b as number), s * (a as number) + c * (b as number), z as number]);
    const models = [
      modelOf(sources, [[0, 1], [1, 1], [2, 1]], 5, rng),
      modelOf(sources, [[4, -1], [2, 0.5], [0, 2]], 5, rng),
      modelOf(sources, [[1, 1], [3, -1], [4, 1]], 5, rng),
      modelOf(rotated, [[0, 1], [1, 1], [2, 1]], 5, rng),
    ];
    const r = udrFromRepresentations(models, { correlation });
    t.log(r.modelScores);
    for (const i of [0, 1, 2]) t.true((r.modelScores[i] as number) > 0.85, `model ${i}: ${r.modelScores[i]}`);
    t.true((r.modelScores[3] as number) < Math.min(...r.modelScores.slice(0, 3)) - 0.1, `entangled model: ${r.modelScores[3]}`);
  });
}

test('relative strength: 1 for a permutation matrix, 0.5 for a uniform 2x2 one, NaN lines count 0', (t) => {
  t.is(relativeStrengthDisentanglement([[0, 1], [1, 0]]), 1);
  t.is(relativeStrengthDisentanglement([[1, 1], [1, 1]]), 0.5);
  t.is(relativeStrengthDisentanglement([[NaN, 1], [0, 1]]), (0 + 0.5 + 0 + 1) / 4);
});

test('average ranks give ties their mean rank (as scipy rankdata)', (t) => {
  t.deepEqual(Array.from(averageRanks([3, 1, 3, 2])), [3.5, 1, 3.5, 2]);
});

test('bad inputs: a single model, mismatched images or latents, a collapsed model are refused with the reason', (t) => {
  const rng = new Rng(1);
  const sources = Array.from({ length: 50 }, () => [rng.normal(), rng.normal()]);
  const a = modelOf(sources, [[0, 1], [1, 1]], 3, rng);
  const b = modelOf(sources, [[1, 1], [2, 1]], 3, rng);
  t.throws(() => udrFromRepresentations([a]), { message: /undefined for a single model.*at least two seeds/ });
  t.throws(() => udrFromRepresentations([a, { ...b, codes: b.codes.slice(1) }]), { message: /model 1 has 49 rows but model 0 has 50/ });
  t.throws(() => udrFromRepresentations([a, modelOf(sources, [[0, 1], [1, 1]], 4, rng)]), { message: /model 1 has 4 latents but model 0 has 3/ });
  t.throws(() => udrFromRepresentations([a, { ...b, kl: [0, 0, 0] }]), { message: /model 1 has no latent with mean KL above 0.01/ });
});
