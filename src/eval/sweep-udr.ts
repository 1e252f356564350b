// UDR over a finished sweep (src/metrics/udr.ts; Duan et al. 2020): the ranking for data without ground-truth
// factors. The sweep's trial runs in MLflow are grouped by configuration (every param but the seed), each trial's
// newest stored checkpoint is fetched and its encoder applied to one shared sample of dataset images (latent means and
// the mean KL of each latent), UDR compares the seeds of each configuration, and `udr` is logged on every trial run
// with the configuration's pairwise scores as `udr/udr.json`. Everything that can be checked before any model is
// loaded (the sweep exists, every configuration has two seeds, every trial has a checkpoint) is checked first.
// Imports TensorFlow, so callers load it lazily.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { openDataset, renderAt } from '../data/index.js';
import type { FactorDataset } from '../data/types.js';
import { klPerDimension } from '../metrics/active-units.js';
import { udrFromRepresentations, type UdrCorrelation, type UdrResult } from '../metrics/udr.js';
import { tf } from '../model/tf.js';
import { VaeModel } from '../model/vae.js';
import { Rng } from '../random.js';
import { CheckpointStore, type StoredCheckpoint } from '../tracking/checkpoint-store.js';
import { MlflowClient } from '../tracking/client.js';
import { clientOptionsFromEnv } from '../tracking/options.js';
import type { Run } from '../tracking/wire.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { resolveTrainConfig, type TrainConfigInput } from '../train/config.js';

/** The metric key UDR is logged under on each trial run. */
export const UDR_METRIC = 'udr';
/** The artifact holding a configuration's pairwise scores, on each of its trial runs. */
export const UDR_ARTIFACT = 'udr/udr.json';

export interface SweepUdrOptions {
  /** MLflow server (default: MLFLOW_TRACKING_URI, as every dcign command). */
  readonly trackingUri?: string;
  /** A client to use instead (its tracking URI wins). */
  readonly client?: MlflowClient;
  /** The sweep's name (its MLflow experiment). */
  readonly sweep: string;
  /** Shared images every model encodes (disentanglement_lib's UDR config: 1000). */
  readonly numExamples?: number;
  /** Seed of the shared sample. */
  readonly seed?: number;
  readonly correlation?: UdrCorrelation;
  readonly klFilterThreshold?: number;
  /** 'error' (default): a configuration with one seed stops everything before it starts; 'skip': it gets no UDR. */
  readonly singleSeed?: 'error' | 'skip';
  /** Log `udr` and udr/udr.json on the trial runs (default true). */
  readonly log?: boolean;
  /** Where checkpoints are fetched (default: a temporary folder, removed afterwards). */
  readonly cacheDir?: string;
  readonly onProgress?: (e: SweepUdrEvent) => void;
}

export type SweepUdrEvent =
  | { readonly type: 'plan'; readonly configurations: number; readonly trials: number; readonly skipped: readonly string[] }
  | { readonly type: 'encoded'; readonly index: number; readonly total: number; readonly runName: string; readonly step: number }
  | { readonly type: 'configuration'; readonly label: string; readonly scores: readonly number[] };

export interface ConfigurationUdr {
  /** The run name without its seed, e.g. `beta-vae standard beta=4 z=10`. */
  readonly label: string;
  readonly runIds: readonly string[];
  readonly seeds: readonly number[];
  /** UDR of each run, in runIds order. */
  readonly scores: readonly number[];
  /** pairwise[i][j]: UDR_ij between runs i and j (0 on the diagonal). */
  readonly pairwise: readonly (readonly number[])[];
}

export interface SweepUdrResult {
  /** UDR of every trial run scored, by MLflow run id. */
  readonly scores: Map<string, number>;
  readonly configurations: readonly ConfigurationUdr[];
  /** Labels of configurations left out (one seed, with singleSeed 'skip'). */
  readonly skipped: readonly string[];
}

/** A problem with the sweep that stops UDR before any model is loaded; says what and how to fix it. */
export class SweepUdrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SweepUdrError';
  }
}

interface Trial {
  readonly run: Run;
  readonly seed: number;
  checkpoint?: StoredCheckpoint;
}

/** Identifies a configuration: every param of the trial run except its seed. */
function configurationKey(run: Run): string {
  const params = Object.entries(run.data.params).filter(([k]) => k !== 'seed');
  return JSON.stringify(params.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function labelOf(run: Run): string {
  const name = run.data.tags['mlflow.runName'] ?? run.info.runName;
  return name.replace(/\s*seed=\S+$/, '');
}

/** The trial runs of the sweep's newest start (its newest parent run), finished ones only. */
async function sweepTrials(client: MlflowClient, sweep: string): Promise<{ trials: Trial[]; unfinished: Run[] }> {
  const experiment = await client.getExperimentByName(sweep);
  if (!experiment) {
    throw new SweepUdrError(
      `no MLflow experiment named '${sweep}' at ${client.trackingUri}: give the sweep's name (as in dcign sweep list) and ` +
        'point MLFLOW_TRACKING_URI (or --tracking-uri) at the server it logged to',
    );
  }
  const runs = await client.searchRuns({ experimentIds: [experiment.experimentId] });
  const parents = runs.filter((r) => r.data.tags['dcign.role'] === 'sweep').sort((a, b) => b.info.startTime - a.info.startTime);
  const parent = parents[0]?.info.runId;
  const trialRuns = runs.filter(
    (r) => r.data.tags['dcign.trial'] !== undefined && (parent === undefined || r.data.tags['mlflow.parentRunId'] === parent),
  );
  if (trialRuns.length === 0) {
    throw new SweepUdrError(`sweep '${sweep}' has no trial runs in MLflow at ${client.trackingUri}: has it trained any trial yet (dcign sweep status)?`);
  }
  const trials: Trial[] = [];
  const unfinished: Run[] = [];
  for (const run of trialRuns) {
    if (run.info.status !== 'FINISHED') {
      unfinished.push(run);
      continue;
    }
    const seed = Number(run.data.params.seed);
    if (!Number.isInteger(seed)) {
      throw new SweepUdrError(`trial run ${run.info.runName} (${run.info.runId}) has no integer 'seed' param, so its configuration cannot be told apart from its seed`);
    }
    trials.push({ run, seed });
  }
  return { trials, unfinished };
}

/** One shared sample of dataset images, the same for every model. */
function sharedImages(datasetName: string, imageSize: number, count: number, seed: number): { images: Float32Array; dataset: FactorDataset } {
  const dataset = openDataset(datasetName, { imageSize });
  const per = imageSize * imageSize * dataset.channels;
  const images = new Float32Array(count * per);
  const rng = new Rng(seed);
  for (let i = 0; i < count; i++) renderAt(dataset, rng.int(dataset.size), images, i * per);
  return { images, dataset };
}

/** Latent means (rows) and mean KL per latent of one checkpoint on the shared images, in batches. */
async function encode(checkpointDir: string, images: Float32Array, count: number, dataset: FactorDataset): Promise<{ codes: Float64Array[]; kl: number[] }> {
  const { imageSize, channels } = dataset;
  const ck = await loadCheckpoint(checkpointDir);
  const cfg = resolveTrainConfig(ck.config as TrainConfigInput);
  const model = new VaeModel(cfg.model, 0, { factors: dataset.factors, channels });
  try {
    model.assignFlat(ck.params);
    const codes: Float64Array[] = [];
    const logvars: Float64Array[] = [];
    const per = imageSize * imageSize * channels;
    const batch = 100;
    for (let start = 0; start < count; start += batch) {
      const n = Math.min(batch, count - start);
      const [mu, logvar] = tf.tidy(() => {
        const x = tf.tensor4d(images.subarray(start * per, (start + n) * per), [n, imageSize, imageSize, channels]);
        const e = model.net.encode(x);
        return [e.mu, e.logvar];
      });
      let m: Float32Array;
      let lv: Float32Array;
      try {
        [m, lv] = [(await mu.data()) as Float32Array, (await logvar.data()) as Float32Array];
      } finally {
        tf.dispose([mu, logvar]);
      }
      const d = m.length / n;
      for (let i = 0; i < n; i++) {
        codes.push(Float64Array.from(m.subarray(i * d, (i + 1) * d)));
        logvars.push(Float64Array.from(lv.subarray(i * d, (i + 1) * d)));
      }
    }
    return { codes, kl: klPerDimension(codes, logvars) };
  } finally {
    model.dispose();
  }
}

/**
 * UDR of every trial of a finished sweep, within each configuration's seeds; logs `udr` on each trial run (unless
 * `log: false`). Returns the scores by run id and each configuration's details.
 */
export async function computeSweepUdr(opts: SweepUdrOptions): Promise<SweepUdrResult> {
  const numExamples = opts.numExamples ?? 1000;
  if (!Number.isInteger(numExamples) || numExamples < 2) throw new SweepUdrError(`numExamples must be an integer >= 2, got ${numExamples}`);
  const client = opts.client ?? new MlflowClient({ ...clientOptionsFromEnv(), ...(opts.trackingUri ? { trackingUri: opts.trackingUri } : {}) });
  const progress = opts.onProgress ?? (() => undefined);
  const { trials } = await sweepTrials(client, opts.sweep);

  const groups = new Map<string, Trial[]>();
  for (const t of trials) {
    const key = configurationKey(t.run);
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  const single = [...groups.values()].filter((g) => g.length < 2);
  if (single.length > 0 && (opts.singleSeed ?? 'error') === 'error') {
    const names = single.map((g) => `'${labelOf((g[0] as Trial).run)}' (seed ${(g[0] as Trial).seed})`).join(', ');
    throw new SweepUdrError(
      `UDR is undefined for a configuration with one seed: it ranks a model by how well the other seeds of its ` +
        `configuration agree with it. Finished with a single seed: ${names}. Train at least two seeds of each ` +
        `(search.seeds in the sweep spec), or skip these (--skip-single-seed)`,
    );
  }
  const skipped = single.map((g) => labelOf((g[0] as Trial).run));
  const scored = [...groups.values()].filter((g) => g.length >= 2).map((g) => g.sort((a, b) => a.seed - b.seed));
  if (scored.length === 0) throw new SweepUdrError(`sweep '${opts.sweep}' has no configuration with two finished seeds; UDR needs at least two`);

  // Every checkpoint located before any is fetched, so a missing one stops the run at once.
  const missing: string[] = [];
  for (const g of scored) {
    for (const t of g) {
      t.checkpoint = await new CheckpointStore(client, t.run.info.runId).latest();
      if (!t.checkpoint) missing.push(`${t.run.info.runName} (${t.run.info.runId})`);
    }
  }
  if (missing.length > 0) {
    throw new SweepUdrError(
      `no complete stored checkpoint (checkpoints/step-*/MANIFEST.json) in trial run(s) ${missing.join(', ')}: ` +
        'UDR encodes images with each trained model; train these trials with an MLflow server (which stores their checkpoints) or retrain them',
    );
  }
  const total = scored.reduce((s, g) => s + g.length, 0);
  progress({ type: 'plan', configurations: scored.length, trials: total, skipped });

  const first = (scored[0] as Trial[])[0] as Trial;
  const datasetName = first.run.data.params.dataset;
  const imageSize = Number(first.run.data.params['model.imageSize']);
  if (datasetName === undefined || !Number.isInteger(imageSize)) {
    throw new SweepUdrError(`trial run ${first.run.info.runName} has no 'dataset' or 'model.imageSize' param; was it logged by dcign?`);
  }
  const { images, dataset } = sharedImages(datasetName, imageSize, numExamples, opts.seed ?? 0);

  const cacheDir = opts.cacheDir ?? (await mkdtemp(path.join(tmpdir(), 'dcign-udr-')));
  const scores = new Map<string, number>();
  const configurations: ConfigurationUdr[] = [];
  let index = 0;
  try {
    for (const g of scored) {
      const models = [];
      for (const t of g) {
        const stored = t.checkpoint as StoredCheckpoint;
        const dir = path.join(cacheDir, t.run.info.runId, path.posix.basename(stored.artifactPath));
        await mkdir(path.dirname(dir), { recursive: true });
        await new CheckpointStore(client, t.run.info.runId).download(stored.artifactPath, dir);
        models.push(await encode(dir, images, numExamples, dataset));
        progress({ type: 'encoded', index: index++, total, runName: t.run.info.runName, step: stored.step });
      }
      const label = labelOf((g[0] as Trial).run);
      let udr: UdrResult;
      try {
        udr = udrFromRepresentations(models, {
          ...(opts.correlation ? { correlation: opts.correlation } : {}),
          ...(opts.klFilterThreshold !== undefined ? { klFilterThreshold: opts.klFilterThreshold } : {}),
        });
      } catch (err) {
        // The metric numbers its models; the user knows them as trial runs.
        const message = (err as Error).message.replace(/model (\d+)/g, (_, i: string) => {
          const t = g[Number(i)];
          return t ? `trial ${t.run.info.runName} (${t.run.info.runId})` : `model ${i}`;
        });
        throw new SweepUdrError(`configuration '${label}': ${message}`);
      }
      const conf: ConfigurationUdr = { label, runIds: g.map((t) => t.run.info.runId), seeds: g.map((t) => t.seed), scores: udr.modelScores, pairwise: udr.pairwise };
      configurations.push(conf);
      g.forEach((t, i) => scores.set(t.run.info.runId, udr.modelScores[i] as number));
      progress({ type: 'configuration', label, scores: udr.modelScores });
      if (opts.log ?? true) {
        const summary = {
          configuration: label,
          correlation: opts.correlation ?? 'lasso',
          numExamples,
          sampleSeed: opts.seed ?? 0,
          runs: g.map((t, i) => ({ runId: t.run.info.runId, seed: t.seed, step: t.checkpoint?.step, udr: udr.modelScores[i] })),
          pairwise: udr.pairwise,
        };
        for (const t of g) {
          await client.logMetrics(t.run.info.runId, { [UDR_METRIC]: scores.get(t.run.info.runId) as number });
          await client.logArtifactBytes(t.run.info.runId, UDR_ARTIFACT, `${JSON.stringify(summary, null, 2)}\n`);
        }
      }
    }
  } finally {
    if (opts.cacheDir === undefined) await rm(cacheDir, { recursive: true, force: true });
  }
  return { scores, configurations, skipped };
}
