// `dcign train` in MLflow: when a tracking server is configured (MLFLOW_TRACKING_URI) or the embedded one answers,
// the run gets its params, standard tags, per-step losses (through the never-blocking RunLogger), the summary and
// the final checkpoint.
import { MlflowClient, RunLogger, ensureExperiment, flattenParams, standardTags, trialRunName } from '../tracking/index.js';
import type { TrainConfig } from './config.js';
import type { TrainResult } from './run.js';

export type TrackingMode = 'auto' | 'on' | 'off';

export interface TrainTracking {
  readonly runId: string;
  readonly url: string;
  onLog(step: number, scalars: Record<string, number>): void;
  finish(result: TrainResult | undefined, files: { summary?: string; checkpoint?: string }): Promise<void>;
}

const EMBEDDED = 'http://127.0.0.1:5000';

/** Opens the run, or returns undefined when tracking is off (or 'auto' finds no server). */
export async function openTrainTracking(cfg: TrainConfig, mode: TrackingMode, experiment: string, backend?: { package: string; device: string }): Promise<TrainTracking | undefined> {
  if (mode === 'off') return undefined;
  const explicit = process.env.MLFLOW_TRACKING_URI;
  const uri = explicit ?? EMBEDDED;
  const client = new MlflowClient({ trackingUri: uri });
  if (!explicit && mode === 'auto') {
    try {
      await client.ping();
    } catch {
      return undefined; // nothing configured and the embedded server is not up: train untracked, as documented
    }
  }
  const experimentId = await ensureExperiment(client, experiment);
  const runName = trialRunName({ beta: cfg.model.beta, latentSize: cfg.model.latentSize, seed: cfg.seed });
  const run = await client.createRun({
    experimentId,
    runName,
    tags: standardTags({ runName, ...(backend ? { backend: backend.package, device: backend.device } : {}) }),
  });
  const runId = run.info.runId;
  const params = flattenParams(cfg);
  delete params.runDir;
  delete params.resumeFrom;
  await client.logParams(runId, params);
  const logger = new RunLogger(client, runId);
  logger.installSignalHandlers();
  return {
    runId,
    url: `${uri.replace(/\/$/, '')}/#/experiments/${experimentId}/runs/${runId}`,
    onLog: (step, scalars) => logger.logMetrics(Object.fromEntries(Object.entries(scalars).filter(([, v]) => Number.isFinite(v))), step),
    finish: async (result, files) => {
      if (result?.eval) {
        const heldOut = Object.entries(result.eval).filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]));
        logger.logMetrics(Object.fromEntries(heldOut.map(([k, v]) => [`heldout_${k}`, v])), result.step);
      }
      await logger.close();
      if (files.summary) await client.logArtifact(runId, files.summary);
      if (files.checkpoint) await client.logArtifacts(runId, files.checkpoint, 'checkpoint');
      await client.endRun(runId, result?.status === 'completed' ? 'FINISHED' : result ? 'KILLED' : 'FAILED');
      client.close();
    },
  };
}
