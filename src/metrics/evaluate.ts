// The evaluation hook of a trained model (the sweep's evaluate step and `dcign eval` call it): samples factor
// combinations from the dataset, renders them, asks the model for its representation (the encoder means), and
// computes every disentanglement metric the way disentanglement_lib's evaluation study does (its gin defaults:
// 10000 train / 5000 test points for the fixed-sample metrics, batch 64 for BetaVAE / FactorVAE). Deterministic for
// a seed when `represent` is. On a list dataset (users' files) factor vectors are those of sampled images; on an
// unlabelled one only the metrics that need no factors run, and the others are reported as skipped with the reason.
import type { FactorDataset, ImageList } from '../data/types.js';
import { mixSeed, Rng } from '../random.js';
import { activeUnits } from './active-units.js';
import { computeBetaVae } from './beta-vae.js';
import { dciFromCodes } from './dci.js';
import { explicitnessFromCodes } from './explicitness.js';
import { computeFactorVae } from './factor-vae.js';
import { irsFromCodes } from './irs.js';
import { migFromCodes } from './mig.js';
import { modularityFromMutualInfo } from './modularity.js';
import { sapFromCodes } from './sap.js';
import { generateBatchFactorCode, uniformFactorSampler, type GroundTruthSource } from './source.js';
import { MetricInputError } from './utils.js';

export interface EvaluateInput {
  dataset: FactorDataset;
  /** Representation (one row of latents per image) of n images, HWC each, packed in one array. */
  represent: (images: Float32Array, n: number) => Promise<Float64Array[] | number[][]>;
  /** Points for fitting the fixed-sample metrics (default 10000). */
  numTrain?: number;
  /** Points for scoring them (default 5000). */
  numTest?: number;
  seed: number;
  /** Images per represent() call (default 64). */
  batchSize?: number;
  /** Points of the BetaVAE / FactorVAE scores: train and eval (defaults 10000 and 5000). */
  samplingTrain?: number;
  samplingEval?: number;
  /** Skip the sampling metrics (BetaVAE, FactorVAE), which cost ~2.5M rendered images at the defaults. */
  skipSampling?: boolean;
  /** Called after each metric with its name, for progress output. */
  onMetric?: (name: string) => void;
  /**
   * Only these metrics (a spec's `evaluation.metrics`: mig, sap, dci, irs, modularity, explicitness, beta-vae,
   * factor-vae); default every one. The mutual information and active units are always computed: the heatmap, the
   * report's latent labels and its latent-space audit read them.
   */
  metrics?: readonly string[];
}

/** The metric groups evaluateRepresentation runs for a list of spec metric names (`beta-vae` -> `beta_vae`). */
export function metricGroups(names: readonly string[] | undefined): Set<string> {
  const all = ['mig', 'modularity', 'sap', 'explicitness', 'dci', 'irs', 'beta_vae', 'factor_vae'];
  return new Set(names === undefined ? all : names.map((n) => n.replace(/-/g, '_')).filter((n) => all.includes(n)));
}

export interface EvaluateResult {
  /** Flat record of every metric (NaN where a metric could not be computed; `errors` says why). */
  metrics: Record<string, number>;
  errors: Record<string, string>;
  /** Metrics not computed at all, with the reason (an unlabelled dataset has no factors to score against). */
  skipped: Record<string, string>;
  /** Mutual information in nats, [factor][latent], over the train sample (discretised latents, 20 bins). */
  mutualInfo: number[][];
  /** Entropy of each factor in nats, over the same sample. */
  factorEntropy: number[];
  factorNames: string[];
  numLatents: number;
}

/** A ground-truth source over a dataset and an image-level representation function. */
export function datasetSource(
  dataset: FactorDataset,
  represent: EvaluateInput['represent'],
  batchSize = 64,
): GroundTruthSource {
  const sizes = dataset.factors.map((f) => f.size);
  const pixels = dataset.imageSize * dataset.imageSize * dataset.channels;
  const list = dataset.list;
  return {
    factorSizes: sizes,
    // A list holds only the combinations of its images: sample images, uniformly, as disentanglement_lib samples
    // the rows of a dataset.
    sampleFactors:
      list === undefined
        ? uniformFactorSampler(sizes)
        : (n, rng) => Array.from({ length: n }, () => dataset.factorsOf(rng.int(dataset.size))),
    ...(list === undefined
      ? {}
      : {
          sampleWithFactor: (n: number, k: number, value: number, rng: Rng): number[][] => {
            const images = list.withFactor(k, value);
            if (images.length === 0) throw new MetricInputError(`no image has factor ${k} at index ${value}`);
            return Array.from({ length: n }, () => dataset.factorsOf(images[rng.int(images.length)] as number));
          },
        }),
    represent: async (factors) => {
      const out: ArrayLike<number>[] = [];
      for (let start = 0; start < factors.length; start += batchSize) {
        const chunk = factors.slice(start, start + batchSize);
        const images = new Float32Array(chunk.length * pixels);
        chunk.forEach((f, i) => dataset.render(f, images, i * pixels));
        const reps = await represent(images, chunk.length);
        if (reps.length !== chunk.length) {
          throw new MetricInputError(`represent() returned ${reps.length} rows for ${chunk.length} images`);
        }
        out.push(...reps);
      }
      return out;
    },
  };
}

/** Every metric this evaluation computes, and the ones that need ground-truth factors. */
const FACTOR_METRICS = ['mig', 'sap', 'explicitness', 'dci', 'irs', 'beta_vae', 'factor_vae'] as const;

/** Why factor metrics are skipped on an unlabelled dataset, for the evaluation output and the run's tags. */
export function unlabelledNote(dataset: FactorDataset): string {
  return (
    `dataset '${dataset.name}' is unlabelled (no ground-truth factors), so this metric cannot be computed; ` +
    `compare models by unsupervised selection (UDR: dcign udr <sweep>) instead`
  );
}

/** An unlabelled dataset: only the metrics that need no factors (active units), over random images. */
async function evaluateUnlabelled(input: EvaluateInput, list: ImageList): Promise<EvaluateResult> {
  const { dataset } = input;
  const batchSize = input.batchSize ?? 64;
  const pixels = dataset.imageSize * dataset.imageSize * dataset.channels;
  const rng = new Rng(mixSeed(input.seed, 0x6d657472)); // 'metr'
  const total = input.numTrain ?? 10000;
  const codes: ArrayLike<number>[] = [];
  for (let start = 0; start < total; start += batchSize) {
    const n = Math.min(batchSize, total - start);
    const images = new Float32Array(n * pixels);
    for (let i = 0; i < n; i++) list.renderImage(rng.int(dataset.size), images, i * pixels);
    const reps = await input.represent(images, n);
    if (reps.length !== n) throw new MetricInputError(`represent() returned ${reps.length} rows for ${n} images`);
    codes.push(...reps);
  }
  const skipped: Record<string, string> = {};
  const note = unlabelledNote(dataset);
  const metrics: Record<string, number> = {};
  // In the order of the labelled evaluation, so progress reports name the right metric.
  for (const name of [...FACTOR_METRICS.slice(0, 5), 'active_units', ...FACTOR_METRICS.slice(5)]) {
    if (input.skipSampling === true && (name === 'beta_vae' || name === 'factor_vae')) continue;
    if (name === 'active_units') metrics['active_units'] = activeUnits(codes).count;
    else skipped[name] = note;
    input.onMetric?.(name);
  }
  return {
    metrics,
    errors: {},
    skipped,
    mutualInfo: [],
    factorEntropy: [],
    factorNames: [],
    numLatents: (codes[0] as ArrayLike<number>).length,
  };
}

export async function evaluateRepresentation(input: EvaluateInput): Promise<EvaluateResult> {
  const { dataset, seed } = input;
  if (dataset.factors.length === 0 && dataset.list !== undefined) return evaluateUnlabelled(input, dataset.list);
  const batchSize = input.batchSize ?? 64;
  const source = datasetSource(dataset, input.represent, batchSize);
  const rng = new Rng(mixSeed(seed, 0x6d657472)); // 'metr'
  const train = await generateBatchFactorCode(source, input.numTrain ?? 10000, rng, batchSize);
  const test = await generateBatchFactorCode(source, input.numTest ?? 5000, rng, batchSize);
  const numLatents = (train.codes[0] as ArrayLike<number>).length;
  const metrics: Record<string, number> = {};
  const errors: Record<string, string> = {};
  const attempt = async (name: string, keys: string[], fn: () => Promise<Record<string, number>> | Record<string, number>) => {
    try {
      Object.assign(metrics, await fn());
    } catch (err) {
      if (!(err instanceof MetricInputError)) throw err;
      for (const k of keys) metrics[k] = NaN;
      errors[name] = err.message;
    }
    input.onMetric?.(name);
  };
  const want = metricGroups(input.metrics);
  let mutualInfo: number[][] = [];
  let factorEntropy: number[] = [];
  await attempt('mig', ['mig', 'modularity'], () => {
    const r = migFromCodes(train.codes, train.factors);
    mutualInfo = dataset.factors.map((_, k) => r.mutualInfo.map((row) => row[k] as number));
    factorEntropy = r.factorEntropy;
    return {
      ...(want.has('mig') ? { mig: r.discrete_mig } : {}),
      ...(want.has('modularity') ? { modularity: modularityFromMutualInfo(r.mutualInfo).modularity_score } : {}),
    };
  });
  if (want.has('sap')) await attempt('sap', ['sap', 'sap_continuous'], () => ({
    sap: sapFromCodes(train.codes, train.factors, test.codes, test.factors).SAP_score,
    sap_continuous: sapFromCodes(train.codes, train.factors, [], [], { continuousFactors: true }).SAP_score,
  }));
  if (want.has('explicitness')) await attempt('explicitness', ['explicitness_train', 'explicitness_test'], () => {
    const r = explicitnessFromCodes(train.codes, train.factors, test.codes, test.factors);
    return { explicitness_train: r.explicitness_score_train, explicitness_test: r.explicitness_score_test };
  });
  const dciKeys = ['dci_disentanglement', 'dci_completeness', 'dci_informativeness_train', 'dci_informativeness_test'];
  if (want.has('dci')) await attempt('dci', dciKeys, () => {
    const r = dciFromCodes(train.codes, train.factors, test.codes, test.factors, { seed: seed >>> 0 });
    return {
      dci_disentanglement: r.disentanglement,
      dci_completeness: r.completeness,
      dci_informativeness_train: r.informativeness_train,
      dci_informativeness_test: r.informativeness_test,
    };
  });
  if (want.has('irs')) await attempt('irs', ['irs'], () => ({ irs: irsFromCodes(train.codes, train.factors).IRS }));
  await attempt('active_units', ['active_units'], () => ({ active_units: activeUnits(train.codes).count }));
  if (!input.skipSampling) {
    const opts = { numTrain: input.samplingTrain ?? 10000, numEval: input.samplingEval ?? 5000 };
    if (want.has('beta_vae')) await attempt('beta_vae', ['beta_vae_train', 'beta_vae_eval'], async () => {
      const r = await computeBetaVae(source, new Rng(mixSeed(seed, 0xbe7a)), opts);
      return { beta_vae_train: r.train_accuracy, beta_vae_eval: r.eval_accuracy };
    });
    if (want.has('factor_vae')) await attempt('factor_vae', ['factor_vae_train', 'factor_vae_eval', 'factor_vae_active_dims'], async () => {
      const r = await computeFactorVae(source, new Rng(mixSeed(seed, 0xfac7)), opts);
      return { factor_vae_train: r.train_accuracy, factor_vae_eval: r.eval_accuracy, factor_vae_active_dims: r.num_active_dims };
    });
  }
  return {
    metrics,
    errors,
    skipped: {},
    mutualInfo,
    factorEntropy,
    factorNames: dataset.factors.map((f) => f.name),
    numLatents,
  };
}
