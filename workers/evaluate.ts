// The sweep's evaluate step on a worker: scores a trial's final checkpoint with the disentanglement metrics
// (src/metrics, through `dcign eval`'s implementation), adds reconstructions and loss curves, and uploads every
// artifact plus the checkpoint itself to the trial's MLflow run. Imports TensorFlow, so the worker loads it lazily.
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { openDataset } from '../src/data/index.js';
import { tf } from '../src/model/tf.js';
import { decoderMean } from '../src/model/losses.js';
import { VaeModel } from '../src/model/vae.js';
import { runEvalCheckpoint } from '../src/metrics/eval-checkpoint.js';
import { loadCheckpoint, resolveCheckpointDir } from '../src/train/checkpoint.js';
import { resolveTrainConfig, type TrainConfigInput } from '../src/train/config.js';
import { MlflowClient, clientOptionsFromEnv, logTrialArtifacts } from '../src/tracking/index.js';
import { tileGrid } from '../src/viz/grid.js';
import { writePng } from '../src/viz/png.js';
import type { EvaluateRequest } from './activities.js';

/** Metrics that need the (expensive) sampling protocol of BetaVAE / FactorVAE. */
const SAMPLING_METRICS = new Set(['beta-vae', 'factor-vae']);

export async function evaluateCheckpoint(req: EvaluateRequest): Promise<Record<string, number>> {
  const checkpointDir = resolveCheckpointDir(req.checkpointPath);
  const out = path.join(path.dirname(path.dirname(checkpointDir)), 'eval');
  const log = console.log;
  console.log = () => undefined; // runEvalCheckpoint prints its result line for the CLI; the worker log needs none
  try {
    await runEvalCheckpoint(checkpointDir, {
      dataset: req.dataset,
      out,
      seed: req.seed,
      numTrain: req.evaluation.numTrain,
      numTest: req.evaluation.numTest,
      skipSampling: !req.evaluation.metrics.some((m) => SAMPLING_METRICS.has(m)),
      traversalSteps: 9,
    });
  } finally {
    console.log = log;
  }
  await writeReconstructions(checkpointDir, req.dataset, req.seed, path.join(out, 'reconstructions.png'));
  const report = JSON.parse(await readFile(path.join(out, 'metrics.json'), 'utf8')) as { metrics: Record<string, number> };
  const metrics = Object.fromEntries(Object.entries(report.metrics).filter(([, v]) => Number.isFinite(v)));

  if (req.mlflowRunId) {
    const client = new MlflowClient(clientOptionsFromEnv());
    try {
      const curves: Record<string, { step: number; value: number }[]> = {};
      for (const key of ['loss', 'recon', 'kl']) {
        const history = await client.getMetricHistory(req.mlflowRunId, key).catch(() => []);
        if (history.length) curves[key] = history.map((m) => ({ step: m.step, value: m.value })).sort((a, b) => a.step - b.step);
      }
      // Images, the loss-curve plot and the checkpoint go where every trial run keeps them (images/, plots/,
      // checkpoint/); the metrics report and the MI heatmap under eval/. The metrics themselves the activity logs.
      await logTrialArtifacts(client, req.mlflowRunId, {
        traversals: path.join(out, 'traversals.png'),
        reconstructions: path.join(out, 'reconstructions.png'),
        ...(Object.keys(curves).length ? { lossCurves: curves } : {}),
        checkpointDir,
      });
      await client.logArtifact(req.mlflowRunId, path.join(out, 'metrics.json'), 'eval');
      await client.logArtifact(req.mlflowRunId, path.join(out, 'mi-heatmap.png'), 'eval');
    } finally {
      client.close();
    }
  }
  return metrics;
}

/** Eight held-out images (top row) above their reconstructions (bottom row). */
async function writeReconstructions(checkpointDir: string, datasetName: string, seed: number, file: string): Promise<void> {
  const ck = await loadCheckpoint(checkpointDir);
  const cfg = resolveTrainConfig(ck.config as TrainConfigInput);
  const dataset = openDataset(datasetName, { imageSize: cfg.model.imageSize });
  const model = new VaeModel(cfg.model, 0, { factors: dataset.factors, channels: dataset.channels });
  try {
    model.net.assignFlat(ck.params);
    const { imageSize: s, channels: c } = dataset;
    const n = 8;
    const images = new Float32Array(n * s * s * c);
    for (let i = 0; i < n; i++) {
      const index = Math.floor(((i + 0.5 + (seed % 7) / 7) * dataset.size) / n) % dataset.size;
      dataset.render(dataset.factorsOf(index), images, i * s * s * c);
    }
    const recon = tf.tidy(() => {
      const x = tf.tensor4d(images, [n, s, s, c]);
      const out = model.net.decode(model.encodeMean(x));
      return decoderMean(out, cfg.model.decoder);
    });
    const both = new Float32Array(2 * images.length);
    both.set(images, 0);
    both.set(await recon.data(), images.length);
    recon.dispose();
    await mkdir(path.dirname(file), { recursive: true });
    await writePng(file, tileGrid({ data: both, count: 2 * n, width: s, height: s, channels: c as 1 | 3 | 4 }, { columns: n }));
  } finally {
    model.dispose();
  }
}
