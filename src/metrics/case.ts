// Conformance cases (test/fixtures/conformance/*.json, format in its README): reading one, building its
// generative ground-truth source, and scoring every metric it defines with the same output names as its `expected`.
import { readFile } from 'node:fs/promises';
import { mixSeed, Rng } from '../random.js';
import { computeBetaVae } from './beta-vae.js';
import { dciFromCodes } from './dci.js';
import { explicitnessFromCodes } from './explicitness.js';
import { computeFactorVae } from './factor-vae.js';
import { irsFromCodes } from './irs.js';
import { migFromCodes } from './mig.js';
import { modularityFromCodes } from './modularity.js';
import { sapFromCodes } from './sap.js';
import { uniformFactorSampler, type GroundTruthSource } from './source.js';
import { MetricInputError } from './utils.js';
import { CASE_METRICS } from './case-metrics.js';

export interface CaseRepresentation {
  num_codes: number;
  W: number[][];
  b: number[];
  noise_sigma: number[];
}

export interface CaseMetric {
  params?: Record<string, unknown>;
  expected: Record<string, number | { mean: number; std: number }>;
  tolerance: Record<string, { abs?: number; rel?: number; single_run_abs?: number }>;
}

export interface ConformanceCase {
  case_id: string;
  factor_sizes: number[];
  representation: CaseRepresentation;
  metrics: Record<string, CaseMetric>;
  fixed_sample: { num_train: number; num_test: number; factors: number[][]; codes: number[][] };
}

export { CASE_METRICS } from './case-metrics.js';

export async function readCase(path: string): Promise<ConformanceCase> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new MetricInputError(`cannot read conformance case ${path}: ${(err as Error).message}`);
  }
  const c = parsed as Partial<ConformanceCase>;
  if (!c || typeof c !== 'object' || !Array.isArray(c.factor_sizes) || !c.metrics || !c.fixed_sample) {
    throw new MetricInputError(`${path} is not a conformance case: it needs factor_sizes, metrics and fixed_sample`);
  }
  return c as ConformanceCase;
}

/** The case's closed-form representation: codes = W f + b + sigma * eps, eps drawn fresh on every call. */
export function caseSource(c: ConformanceCase, noiseSeed: number): GroundTruthSource {
  const { W, b, noise_sigma: sigma } = c.representation;
  const noise = new Rng(noiseSeed);
  const d = W.length;
  return {
    factorSizes: c.factor_sizes,
    sampleFactors: uniformFactorSampler(c.factor_sizes),
    represent: (factors) =>
      Promise.resolve(
        factors.map((f) => {
          const out = new Float64Array(d);
          for (let j = 0; j < d; j++) {
            const w = W[j] as number[];
            let s = b[j] as number;
            for (let k = 0; k < f.length; k++) s += (w[k] as number) * (f[k] as number);
            const sg = sigma[j] as number;
            out[j] = sg > 0 ? s + sg * noise.normal() : s;
          }
          return out;
        }),
      ),
  };
}

export type CaseScores = Record<string, Record<string, number>>;

/** Scores one metric of a case; the output names follow the case's `expected`. */
export async function scoreCaseMetric(c: ConformanceCase, name: string, seed = 0): Promise<Record<string, number>> {
  const fs = c.fixed_sample;
  const nTrain = fs.num_train;
  const trainCodes = fs.codes.slice(0, nTrain);
  const trainFactors = fs.factors.slice(0, nTrain);
  const testCodes = fs.codes.slice(nTrain, nTrain + fs.num_test);
  const testFactors = fs.factors.slice(nTrain, nTrain + fs.num_test);
  const params = c.metrics[name]?.params ?? {};
  const num = (key: string, dflt: number): number => (typeof params[key] === 'number' ? (params[key] as number) : dflt);
  switch (name) {
    case 'mig':
      return { discrete_mig: migFromCodes(trainCodes, trainFactors, num('num_bins', 20)).discrete_mig };
    case 'sap_score':
      return { SAP_score: sapFromCodes(trainCodes, trainFactors, testCodes, testFactors).SAP_score };
    case 'sap_score_continuous_factors':
      return {
        SAP_score: sapFromCodes(trainCodes, trainFactors, testCodes, testFactors, { continuousFactors: true }).SAP_score,
      };
    case 'modularity':
      return { modularity_score: modularityFromCodes(trainCodes, trainFactors, num('num_bins', 20)).modularity_score };
    case 'explicitness': {
      const r = explicitnessFromCodes(trainCodes, trainFactors, testCodes, testFactors);
      return { explicitness_score_train: r.explicitness_score_train, explicitness_score_test: r.explicitness_score_test };
    }
    case 'dci': {
      const r = dciFromCodes(trainCodes, trainFactors, testCodes, testFactors, { seed });
      return {
        disentanglement: r.disentanglement,
        completeness: r.completeness,
        informativeness_train: r.informativeness_train,
        informativeness_test: r.informativeness_test,
      };
    }
    case 'irs':
      return {
        IRS: irsFromCodes(trainCodes, trainFactors, {
          diffQuantile: num('diff_quantile', 0.99),
          numBins: num('num_bins', 20),
        }).IRS,
      };
    case 'beta_vae': {
      const r = await computeBetaVae(caseSource(c, mixSeed(seed, 2)), new Rng(mixSeed(seed, 1)), {
        batchSize: num('batch_size', 64),
        numTrain: num('num_train', 10000),
        numEval: num('num_eval', 5000),
      });
      return { train_accuracy: r.train_accuracy, eval_accuracy: r.eval_accuracy };
    }
    case 'factor_vae': {
      const r = await computeFactorVae(caseSource(c, mixSeed(seed, 4)), new Rng(mixSeed(seed, 3)), {
        batchSize: num('batch_size', 64),
        numTrain: num('num_train', 10000),
        numEval: num('num_eval', 5000),
        numVarianceEstimate: num('num_variance_estimate', 10000),
        pruneThreshold: num('prune_dims_threshold', 0.05),
      });
      return { train_accuracy: r.train_accuracy, eval_accuracy: r.eval_accuracy };
    }
    default:
      throw new MetricInputError(`unknown metric '${name}' in case ${c.case_id}; known: ${CASE_METRICS.join(', ')}`);
  }
}

/** Scores every metric the case defines, keyed like its `metrics`, each with the output names of its `expected`. */
export async function scoreCase(c: ConformanceCase, seed = 0, only?: readonly string[]): Promise<CaseScores> {
  const out: CaseScores = {};
  for (const name of Object.keys(c.metrics)) {
    if (only && !only.includes(name)) continue;
    const r = await scoreCaseMetric(c, name, seed);
    const expected = c.metrics[name]?.expected ?? {};
    const named: Record<string, number> = {};
    for (const key of Object.keys(expected)) {
      if (!(key in r)) throw new Error(`metric ${name} of case ${c.case_id} expects output '${key}' that we do not compute`);
      named[key] = r[key] as number;
    }
    out[name] = named;
  }
  return out;
}

/** Tolerance of one output (README "Tolerances"): sampling metrics use the single-run bound. */
export function toleranceOf(metric: CaseMetric, output: string): number {
  const t = metric.tolerance[output];
  if (!t) throw new Error(`no tolerance for ${output}`);
  const exp = metric.expected[output];
  if (typeof exp === 'object') {
    if (typeof t.single_run_abs === 'number') return t.single_run_abs;
    return Math.max(4 * exp.std, 0.005);
  }
  return Math.max(t.abs ?? 0, (t.rel ?? 0) * Math.abs(exp as number));
}

/** The expected value of one output (the mean over seeds for sampling metrics). */
export function expectedOf(metric: CaseMetric, output: string): number {
  const exp = metric.expected[output];
  return typeof exp === 'object' ? exp.mean : (exp as number);
}
