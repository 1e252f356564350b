// `dcign train` in MLflow: when a tracking server is configured (MLFLOW_TRACKING_URI) or the embedded one answers,
// the run gets its params, standard tags, per-step losses (src/tracking's trackTraining: a step never waits on the
// network), the held-out ELBO, the summary, the loss-curve plot and the final checkpoint.
import { executionTags } from '../graph/support.js';
import { MlflowClient, clientOptionsFromEnv, trackTraining, type TrialConfigLike } from '../tracking/index.js';
import { mlflowRunLink } from '../tracking/ui-links.js';
import type { TrainConfig } from './config.js';
import type { TrainResult } from './run.js';

export type TrackingMode = 'auto' | 'on' | 'off';

export interface TrainTracking {
  readonly runId: string;
  readonly url: string;
  onLog(step: number, scalars: Record<string, number>): void;
  onCheckpoint(step: number, path: string): void;
  finish(result: TrainResult | undefined, files: { summary?: string }): Promise<void>;
}

/** Opens the run, or returns undefined when tracking is off (or 'auto' finds no server). */
export async function openTrainTracking(
  cfg: TrainConfig,
  mode: TrackingMode,
  experiment: string,
  backend?: { package: string; device: string },
  /** The tracking server in use when MLFLOW_TRACKING_URI is unset (e.g. the local stack on another port). */
  trackingUri?: string,
): Promise<TrainTracking | undefined> {
  if (mode === 'off') return undefined;
  const fromEnv = clientOptionsFromEnv();
  const options = process.env.MLFLOW_TRACKING_URI === undefined && trackingUri !== undefined ? { ...fromEnv, trackingUri } : fromEnv;
  const client = new MlflowClient(options);
  if (process.env.MLFLOW_TRACKING_URI === undefined && mode === 'auto') {
    try {
      await client.ping();
    } catch {
      client.close();
      return undefined; // nothing configured and the local server is not up: train untracked, as documented
    }
  }
  const tracker = await trackTraining(cfg as unknown as TrialConfigLike, {
    client,
    experimentName: experiment,
    ...(backend ? { backend: backend.package, device: backend.device } : {}),
  });
  const experimentId = (await client.getRun(tracker.runId)).info.experimentId;
  return {
    runId: tracker.runId,
    url: mlflowRunLink(options.trackingUri ?? '', experimentId, tracker.runId),
    onLog: (step, scalars) => tracker.onLog(step, scalars),
    onCheckpoint: (step, path) => tracker.onCheckpoint(step, path),
    finish: async (result, files) => {
      if (result?.eval) {
        const heldOut = Object.entries(result.eval).filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]));
        tracker.logger.logMetrics(Object.fromEntries(heldOut.map(([k, v]) => [`heldout_${k}`, v])), result.step);
      }
      if (result !== undefined) {
        // what actually ran (the start tags come from the config: a missing graph addon shows only here)
        tracker.logger.setTags(executionTags(result.stepExecution));
      }
      await tracker.finish(result?.status === 'completed' ? 'FINISHED' : result ? 'KILLED' : 'FAILED');
      if (files.summary) await client.logArtifact(tracker.runId, files.summary);
      client.close();
    },
  };
}
