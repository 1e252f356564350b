// `dcign eval <checkpoint>`: scores a trained model's encoder means with every disentanglement metric and writes
// <out>/metrics.json, <out>/mi-heatmap.png (factor x latent mutual information, each row divided by the factor's
// entropy, so 1 = the latent determines the factor) and <out>/traversals.png (one row per latent, swept over
// [-2, 2] with the others at the encoder mean of one image). Imports TensorFlow, so the CLI loads it lazily.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openDataset } from '../data/index.js';
import { decoderMean } from '../model/losses.js';
import { VaeModel } from '../model/vae.js';
import { tf } from '../model/tf.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { resolveTrainConfig, type TrainConfigInput } from '../train/config.js';
import { tileGrid } from '../viz/grid.js';
import { writePng } from '../viz/png.js';
import { writeHeatmapPng } from '../viz/heatmap.js';
import { evaluateRepresentation } from './evaluate.js';

export interface EvalCheckpointOptions {
  /** Dataset name (default: the one the checkpoint was trained on). */
  dataset?: string;
  out: string;
  seed: number;
  numTrain: number;
  numTest: number;
  skipSampling: boolean;
  traversalSteps: number;
}

export async function runEvalCheckpoint(checkpoint: string, opts: EvalCheckpointOptions): Promise<void> {
  const ck = await loadCheckpoint(checkpoint);
  const cfg = resolveTrainConfig(ck.config as TrainConfigInput);
  const datasetName = opts.dataset ?? cfg.dataset;
  const dataset = openDataset(datasetName, { imageSize: cfg.model.imageSize });
  if (dataset.imageSize !== cfg.model.imageSize) {
    throw new Error(
      `dataset ${datasetName} has ${dataset.imageSize}px images but the model was trained on ${cfg.model.imageSize}px`,
    );
  }
  const model = new VaeModel(cfg.model, 0, { factors: dataset.factors, channels: dataset.channels });
  model.net.assignFlat(ck.params);
  const { imageSize, channels } = dataset;
  const represent = async (images: Float32Array, n: number): Promise<Float64Array[]> => {
    const mu = tf.tidy(() => model.encodeMean(tf.tensor4d(images, [n, imageSize, imageSize, channels])));
    const flat = await mu.data();
    mu.dispose();
    const l = flat.length / n;
    return Array.from({ length: n }, (_, i) => Float64Array.from(flat.subarray(i * l, (i + 1) * l)));
  };
  const started = Date.now();
  const result = await evaluateRepresentation({
    dataset,
    represent,
    numTrain: opts.numTrain,
    numTest: opts.numTest,
    seed: opts.seed,
    skipSampling: opts.skipSampling,
    onMetric: (name) => process.stderr.write(`${JSON.stringify({ type: 'progress', metric: name, elapsedMs: Date.now() - started })}\n`),
  });
  await mkdir(opts.out, { recursive: true });
  const report = {
    checkpoint: path.resolve(checkpoint),
    step: ck.state.step,
    dataset: datasetName,
    seed: opts.seed,
    numTrain: opts.numTrain,
    numTest: opts.numTest,
    metrics: result.metrics,
    errors: result.errors,
    factorNames: result.factorNames,
    factorEntropy: result.factorEntropy,
    mutualInfo: result.mutualInfo,
  };
  await writeFile(path.join(opts.out, 'metrics.json'), `${JSON.stringify(report, null, 2)}\n`);
  const normalised = result.mutualInfo.map((row, k) => row.map((v) => v / ((result.factorEntropy[k] as number) || 1)));
  await writeHeatmapPng(path.join(opts.out, 'mi-heatmap.png'), normalised, { max: 1 });
  await writeTraversals(model, dataset, opts, path.join(opts.out, 'traversals.png'));
  process.stdout.write(`${JSON.stringify({ metrics: result.metrics, out: path.resolve(opts.out) })}\n`);
}

async function writeTraversals(
  model: VaeModel,
  dataset: ReturnType<typeof openDataset>,
  opts: EvalCheckpointOptions,
  file: string,
): Promise<void> {
  const { imageSize, channels } = dataset;
  const base = new Float32Array(imageSize * imageSize * channels);
  dataset.render(dataset.factorsOf(Math.floor(dataset.size / 2)), base, 0);
  const latent = model.config.latentSize;
  const steps = opts.traversalSteps;
  const images = tf.tidy(() => {
    const mu = model.encodeMean(tf.tensor4d(base, [1, imageSize, imageSize, channels]));
    const muRow = mu.dataSync();
    const z = new Float32Array(latent * steps * latent);
    for (let j = 0; j < latent; j++) {
      for (let s = 0; s < steps; s++) {
        const row = (j * steps + s) * latent;
        z.set(muRow, row);
        z[row + j] = -2 + (4 * s) / Math.max(1, steps - 1);
      }
    }
    const out = model.net.decode(tf.tensor2d(z, [latent * steps, latent]));
    return decoderMean(out, model.config.decoder);
  });
  const data = Float32Array.from(await images.data());
  images.dispose();
  const c = channels as 1 | 3 | 4;
  await writePng(file, tileGrid({ data, count: latent * steps, width: imageSize, height: imageSize, channels: c }, { columns: steps }));
}
