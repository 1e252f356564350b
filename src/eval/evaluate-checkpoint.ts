// Evaluation of a trained checkpoint as one function, for `dcign eval` and the sweep's evaluate step alike: loads the
// checkpoint once, scores the encoder means with every disentanglement metric (src/metrics, pure numerics), and writes
// what a person looks at: metrics.json, the factor x latent mutual-information heatmap (each row divided by the
// factor's entropy, so 1 = the latent determines the factor), latent traversals (one row per latent, swept over
// [-2, 2] with the others at the encoder mean of one image; also one GIF per latent), reconstructions, and the
// posterior audit (posterior.json: KL per latent, the aggregate posterior against N(0, I), prior samples that decode to
// blank or broken images; src/eval/posterior-audit.ts). Returns the metrics and the files; progress goes to the
// caller's logger. Imports TensorFlow, so callers load it lazily.
import { dcignRecovery } from './dcign-recovery.js';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { openDataset, renderAt } from '../data/index.js';
import type { FactorDataset } from '../data/types.js';
import { evaluateRepresentation, metricGroups } from '../metrics/evaluate.js';
import { decoderMean } from '../model/losses.js';
import { tf } from '../model/tf.js';
import { VaeModel } from '../model/vae.js';
import { loadCheckpoint, resolveCheckpointDir } from '../train/checkpoint.js';
import { resolveTrainConfig, type TrainConfigInput } from '../train/config.js';
import { evaluateElbo, heldOutScalars } from '../train/evaluate.js';
import { Rng, mixSeed } from '../random.js';
import { writeGif } from '../viz/gif.js';
import { tileGrid } from '../viz/grid.js';
import { writeHeatmapPng } from '../viz/heatmap.js';
import { writePng } from '../viz/png.js';
import { checkPriorSamplesFor, posteriorAudit, type PosteriorAudit, type PriorSampleCheck } from './posterior-audit.js';

export interface EvaluateCheckpointOptions {
  /** Dataset name (default: the one the checkpoint was trained on). */
  readonly dataset?: string;
  readonly out: string;
  readonly seed: number;
  /** Points of every metric's training sample, BetaVAE / FactorVAE included (disentanglement_lib: 10000). */
  readonly numTrain: number;
  /** Points of every metric's test sample, BetaVAE / FactorVAE included (disentanglement_lib: 5000). */
  readonly numTest: number;
  readonly skipSampling: boolean;
  readonly traversalSteps: number;
  /** Only these metrics (spec names, e.g. `mig`, `beta-vae`); default every one. */
  readonly metrics?: readonly string[];
  /** Images encoded for the posterior audit and prior samples decoded (default 1000 and 500). */
  readonly auditImages?: number;
  readonly priorSamples?: number;
}

/** What the evaluation tells its caller as it goes. */
export type EvaluationEvent =
  | { readonly type: 'metric-start'; readonly metric: string; readonly index: number; readonly total: number }
  | { readonly type: 'metric-done'; readonly metric: string; readonly index: number; readonly total: number; readonly elapsedMs: number }
  /** Images encoded so far (the cost of the sampling metrics is almost all rendering and encoding). */
  | { readonly type: 'images'; readonly encoded: number; readonly elapsedMs: number }
  | { readonly type: 'file'; readonly path: string };

export interface EvaluationFiles {
  readonly metricsJson: string;
  /** Absent for an unlabelled dataset: there are no factors to relate latents to. */
  readonly heatmap?: string;
  readonly traversals: string;
  readonly reconstructions: string;
  readonly posterior: string;
  /** One GIF per latent: that latent swept over [-2, 2] and back. */
  readonly traversalGifs: readonly string[];
}

/** The posterior audit as evaluation writes it (posterior.json; the report reads it from MLflow). */
export interface PosteriorReport extends PosteriorAudit {
  readonly prior: PriorSampleCheck;
}

/** The full evaluation: the metrics (with the posterior audit's scalars) and the files written. */
export interface EvaluationResult extends CheckpointMetrics {
  readonly files: EvaluationFiles;
}

const FIXED_METRICS = ['mig', 'sap', 'explicitness', 'dci', 'irs', 'active_units'];
const SAMPLING_METRICS = ['beta_vae', 'factor_vae'];
/** Scalar summaries of the posterior audit, logged with the metrics (eval/<name> on the trial's run). */
export const AUDIT_METRICS = ['posterior_kl_lower_bound', 'posterior_tc', 'prior_blank', 'prior_broken'] as const;

/** The metrics alone (a rung of early stopping): what evaluateCheckpoint computes, without the audit and the files. */
export interface CheckpointMetrics {
  /** The requested metrics (and active_units; the held-out ELBO when `elbo` is requested); NaN where one failed. */
  readonly metrics: Record<string, number>;
  readonly errors: Record<string, string>;
  /** Metrics not computed, with the reason (an unlabelled dataset: every metric that needs factors). */
  readonly skipped: Record<string, string>;
  readonly step: number;
  readonly checkpointDir: string;
  /** Images the model encoded for the metrics: what the sample sizes cost. */
  readonly imagesEncoded: number;
}

/**
 * Scores a checkpoint on the requested metrics only: no posterior audit, no images, nothing written (`out` is
 * unused). What early stopping runs at each rung, beside training, so it costs the metrics and nothing more.
 */
export async function evaluateCheckpointMetrics(
  checkpoint: string,
  opts: Omit<EvaluateCheckpointOptions, 'traversalSteps' | 'auditImages' | 'priorSamples' | 'out'>,
  log: (e: EvaluationEvent) => void = () => undefined,
): Promise<CheckpointMetrics> {
  const loaded = await loadForEvaluation(checkpoint, opts.dataset);
  try {
    const { metrics, result, imagesEncoded } = await scoreMetrics(loaded, opts, log);
    return { metrics, errors: result.errors, skipped: result.skipped, step: loaded.step, checkpointDir: loaded.checkpointDir, imagesEncoded };
  } finally {
    loaded.model.dispose();
  }
}

export async function evaluateCheckpoint(
  checkpoint: string,
  opts: EvaluateCheckpointOptions,
  log: (e: EvaluationEvent) => void = () => undefined,
): Promise<EvaluationResult> {
  const loaded = await loadForEvaluation(checkpoint, opts.dataset);
  const { checkpointDir, cfg, dataset, datasetName, model } = loaded;
  try {
    const scored = await scoreMetrics(loaded, opts, log);
    const { result } = scored;
    await mkdir(opts.out, { recursive: true });
    const labelled = dataset.factors.length > 0;
    const files: EvaluationFiles = {
      metricsJson: path.join(opts.out, 'metrics.json'),
      ...(labelled ? { heatmap: path.join(opts.out, 'mi-heatmap.png') } : {}),
      traversals: path.join(opts.out, 'traversals.png'),
      reconstructions: path.join(opts.out, 'reconstructions.png'),
      posterior: path.join(opts.out, 'posterior.json'),
      traversalGifs: Array.from({ length: cfg.model.latentSize }, (_, j) => path.join(opts.out, 'traversals', `z${j}.gif`)),
    };
    const posterior = await auditPosterior(model, dataset, opts.seed, opts.auditImages ?? 1000, opts.priorSamples ?? 500);
    const recovery = model.assignment ? dcignRecovery(model, dataset, model.assignment, mixSeed(opts.seed, 0xdc16)) : [];
    const metrics = {
      ...scored.metrics,
      ...Object.fromEntries(recovery.flatMap((r) => [...(Number.isFinite(r.recovered) ? [[`dcign_recovered_${r.factor}`, r.recovered]] : []), [`dcign_modelled_${r.factor}`, r.modelled]])),
      posterior_kl_lower_bound: posterior.gaussianKlLowerBound,
      posterior_tc: posterior.gaussianTc,
      prior_blank: posterior.prior.blank,
      // left out where the smear test does not fit the dataset (posterior.json: prior.brokenNotApplicable says why)
      ...(posterior.prior.broken !== undefined ? { prior_broken: posterior.prior.broken } : {}),
    };
    const report = {
      checkpoint: checkpointDir,
      step: loaded.step,
      dataset: datasetName,
      seed: opts.seed,
      numTrain: opts.numTrain,
      numTest: opts.numTest,
      metrics,
      errors: result.errors,
      skipped: result.skipped,
      factorNames: result.factorNames,
      factorEntropy: result.factorEntropy,
      mutualInfo: result.mutualInfo,
      ...(recovery.length > 0 ? { dcignRecovery: recovery } : {}),
    };
    await writeFile(files.metricsJson, `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(files.posterior, `${JSON.stringify(posterior, null, 2)}\n`);
    const normalised = result.mutualInfo.map((row, k) => row.map((v) => v / ((result.factorEntropy[k] as number) || 1)));
    if (files.heatmap !== undefined) await writeHeatmapPng(files.heatmap, normalised, { max: 1 });
    await writeTraversals(model, dataset, opts.traversalSteps, files.traversals);
    await writeTraversalGifs(model, dataset, files.traversalGifs);
    await writeReconstructions(model, dataset, opts.seed, files.reconstructions);
    for (const file of Object.values(files).flat()) log({ type: 'file', path: file });
    return { metrics, errors: result.errors, skipped: result.skipped, step: loaded.step, checkpointDir, files, imagesEncoded: scored.imagesEncoded };
  } finally {
    model.dispose();
  }
}

interface LoadedCheckpoint {
  readonly checkpointDir: string;
  readonly step: number;
  readonly cfg: ReturnType<typeof resolveTrainConfig>;
  readonly datasetName: string;
  readonly dataset: FactorDataset;
  /** The caller disposes it. */
  readonly model: VaeModel;
}

/** The checkpoint's model with its parameters, and the dataset to evaluate it on (of the model's image size). */
async function loadForEvaluation(checkpoint: string, datasetOverride: string | undefined): Promise<LoadedCheckpoint> {
  const checkpointDir = resolveCheckpointDir(checkpoint);
  const ck = await loadCheckpoint(checkpointDir);
  const cfg = resolveTrainConfig(ck.config as TrainConfigInput);
  const datasetName = datasetOverride ?? cfg.dataset;
  const dataset = openDataset(datasetName, { imageSize: cfg.model.imageSize });
  if (dataset.imageSize !== cfg.model.imageSize) {
    throw new Error(
      `dataset ${datasetName} has ${dataset.imageSize}px images but the model in ${checkpointDir} was trained on ${cfg.model.imageSize}px: ` +
        `evaluate it on a dataset of its size (--dataset)`,
    );
  }
  const model = new VaeModel(cfg.model, 0, { factors: dataset.factors, channels: dataset.channels });
  try {
    model.assignFlat(ck.params); // every parameter the checkpoint holds (FactorVAE: the discriminator too)
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { checkpointDir, step: ck.state.step, cfg, datasetName, dataset, model };
}

/** The requested disentanglement metrics of the encoder means, and the held-out ELBO when `elbo` is requested. */
async function scoreMetrics(
  { cfg, dataset, model }: LoadedCheckpoint,
  opts: Pick<EvaluateCheckpointOptions, 'numTrain' | 'numTest' | 'seed' | 'skipSampling' | 'metrics'>,
  log: (e: EvaluationEvent) => void,
): Promise<{ metrics: Record<string, number>; result: Awaited<ReturnType<typeof evaluateRepresentation>>; imagesEncoded: number }> {
  const { imageSize, channels } = dataset;
  const started = Date.now();
  let encoded = 0;
  let lastReport = 0;
  const represent = async (images: Float32Array, n: number): Promise<Float64Array[]> => {
    const mu = tf.tidy(() => model.encodeMean(tf.tensor4d(images, [n, imageSize, imageSize, channels])));
    const flat = await mu.data();
    mu.dispose();
    encoded += n;
    if (Date.now() - lastReport >= 1000) {
      lastReport = Date.now();
      log({ type: 'images', encoded, elapsedMs: lastReport - started });
    }
    const l = flat.length / n;
    return Array.from({ length: n }, (_, i) => Float64Array.from(flat.subarray(i * l, (i + 1) * l)));
  };
  const want = metricGroups(opts.metrics);
  const runs = (m: string): boolean => m === 'active_units' || m === 'mig' || want.has(m);
  const names = [...FIXED_METRICS.filter(runs), ...(opts.skipSampling ? [] : SAMPLING_METRICS.filter(runs))];
  let index = 0;
  log({ type: 'metric-start', metric: names[0] as string, index: 0, total: names.length });
  const result = await evaluateRepresentation({
    dataset,
    represent,
    numTrain: opts.numTrain,
    numTest: opts.numTest,
    samplingTrain: opts.numTrain,
    samplingEval: opts.numTest,
    seed: opts.seed,
    skipSampling: opts.skipSampling,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    onMetric: (metric) => {
      log({ type: 'metric-done', metric, index, total: names.length, elapsedMs: Date.now() - started });
      index += 1;
      const next = names[index];
      if (next !== undefined) log({ type: 'metric-start', metric: next, index, total: names.length });
    },
  });
  // The held-out ELBO needs no factors: the trainer's own evaluation set and noise (seeded by the training seed), so
  // it matches the `elbo` the trainer logs at its evalSteps for the same parameters.
  const heldOut =
    opts.metrics === undefined || opts.metrics.includes('elbo') ? evaluateElbo(model, dataset, cfg.seed, Math.max(1, cfg.evalBatches), cfg.evalBatchSize) : undefined;
  const metrics = { ...result.metrics, ...(heldOut ? heldOutScalars(heldOut) : {}) };
  return { metrics, result, imagesEncoded: encoded };
}

/** Encoder means and log-variances of images spread over the dataset, and decoded prior samples, audited. */
async function auditPosterior(model: VaeModel, dataset: FactorDataset, seed: number, n: number, priorN: number): Promise<PosteriorReport> {
  const { imageSize: s, channels: c } = dataset;
  const pixels = s * s * c;
  const rng = new Rng(mixSeed(seed, 0xa0d1)); // 'audit'
  const mus: Float64Array[] = [];
  const logvars: Float64Array[] = [];
  const d = model.config.latentSize;
  // the dataset's own images the prior check is fitted to: the first batch (up to 100)
  let real = new Float32Array(0);
  for (let start = 0; start < n; start += 100) {
    const m = Math.min(100, n - start);
    const images = new Float32Array(m * pixels);
    for (let i = 0; i < m; i++) renderAt(dataset, rng.int(dataset.size), images, i * pixels);
    if (start === 0) real = images;
    const [mu, lv] = tf.tidy(() => {
      const e = model.net.encode(tf.tensor4d(images, [m, s, s, c]));
      return [e.mu, e.logvar];
    });
    const [mf, lf] = [await mu.data(), await lv.data()];
    mu.dispose();
    lv.dispose();
    for (let i = 0; i < m; i++) {
      mus.push(Float64Array.from(mf.subarray(i * d, (i + 1) * d)));
      logvars.push(Float64Array.from(lf.subarray(i * d, (i + 1) * d)));
    }
  }
  const z = new Float32Array(priorN * d);
  for (let i = 0; i < z.length; i++) z[i] = rng.normal();
  const decoded = tf.tidy(() => decoderMean(model.net.decode(tf.tensor2d(z, [priorN, d])), model.config.decoder));
  const images = await decoded.data();
  decoded.dispose();
  return { ...posteriorAudit(mus, logvars), prior: checkPriorSamplesFor(images, real, pixels) };
}

/** One GIF per latent: the latent swept from -2 to 2 and back, the others at the encoder mean of one image. */
async function writeTraversalGifs(model: VaeModel, dataset: FactorDataset, files: readonly string[]): Promise<void> {
  const steps = 12;
  const { imageSize, channels } = dataset;
  const values = [...Array.from({ length: steps }, (_, s) => -2 + (4 * s) / (steps - 1)), ...Array.from({ length: steps - 2 }, (_, s) => 2 - (4 * (s + 1)) / (steps - 1))];
  const frames = await decodeTraversal(model, dataset, values);
  const per = values.length * imageSize * imageSize * channels;
  await mkdir(path.dirname(files[0] ?? '.'), { recursive: true });
  for (const [j, file] of files.entries()) {
    await writeGif(file, { data: frames.subarray(j * per, (j + 1) * per), count: values.length, width: imageSize, height: imageSize, channels: channels === 1 ? 1 : 3 }, { scale: Math.max(1, Math.round(96 / imageSize)), delayMs: 100 });
  }
}

/** Decoded images of each latent (in order) set to each of `values`, the others at the encoder mean of one image. */
async function decodeTraversal(model: VaeModel, dataset: FactorDataset, values: readonly number[]): Promise<Float32Array> {
  const { imageSize, channels } = dataset;
  const base = new Float32Array(imageSize * imageSize * channels);
  renderAt(dataset, Math.floor(dataset.size / 2), base, 0);
  const latent = model.config.latentSize;
  const steps = values.length;
  const images = tf.tidy(() => {
    const muRow = model.encodeMean(tf.tensor4d(base, [1, imageSize, imageSize, channels])).dataSync();
    const z = new Float32Array(latent * steps * latent);
    for (let j = 0; j < latent; j++) {
      for (let s = 0; s < steps; s++) {
        const row = (j * steps + s) * latent;
        z.set(muRow, row);
        z[row + j] = values[s] as number;
      }
    }
    return decoderMean(model.net.decode(tf.tensor2d(z, [latent * steps, latent])), model.config.decoder);
  });
  const data = Float32Array.from(await images.data());
  images.dispose();
  return data;
}

async function writeTraversals(model: VaeModel, dataset: FactorDataset, steps: number, file: string): Promise<void> {
  const { imageSize, channels } = dataset;
  const values = Array.from({ length: steps }, (_, s) => -2 + (4 * s) / Math.max(1, steps - 1));
  const data = await decodeTraversal(model, dataset, values);
  const c = channels as 1 | 3 | 4;
  const count = model.config.latentSize * steps;
  await writePng(file, tileGrid({ data, count, width: imageSize, height: imageSize, channels: c }, { columns: steps }));
}

/** Eight images spread over the dataset (top row) above their reconstructions (bottom row). */
async function writeReconstructions(model: VaeModel, dataset: FactorDataset, seed: number, file: string): Promise<void> {
  const { imageSize: s, channels: c } = dataset;
  const n = 8;
  const images = new Float32Array(n * s * s * c);
  for (let i = 0; i < n; i++) {
    const index = Math.floor(((i + 0.5 + (seed % 7) / 7) * dataset.size) / n) % dataset.size;
    renderAt(dataset, index, images, i * s * s * c);
  }
  const recon = tf.tidy(() => {
    const x = tf.tensor4d(images, [n, s, s, c]);
    const out = model.net.decode(model.encodeMean(x));
    return decoderMean(out, model.config.decoder);
  });
  const both = new Float32Array(2 * images.length);
  both.set(images, 0);
  both.set(await recon.data(), images.length);
  recon.dispose();
  await writePng(file, tileGrid({ data: both, count: 2 * n, width: s, height: s, channels: c as 1 | 3 | 4 }, { columns: n }));
}
