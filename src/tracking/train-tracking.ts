// Glue between the trainer's hooks and MLflow: one call gives `onLog`/`onCheckpoint` callbacks that only enqueue into
// a RunLogger (a step never waits on the network), and a `finish` that flushes, uploads the trial's artifacts (with a
// loss-curve plot drawn from what was logged) and ends the run with the right status.
import { MlflowClient } from './client.js';
import { clientOptionsFromEnv } from './options.js';
import type { RunStatus } from './wire.js';
import { RunLogger, type RunLoggerOptions, type RunLoggerStats } from './run-logger.js';
import { ensureExperiment, logTrialArtifacts, startTrialRun, type TrialArtifacts, type TrialConfigLike, type TrialTagInput } from './trial-logging.js';

export interface TrackTrainingOptions extends Omit<TrialTagInput, 'runName'> {
  client?: MlflowClient;
  /** Log into this existing run (e.g. created by the trial workflow); otherwise a run is created. */
  runId?: string;
  experimentName?: string;
  parentRunId?: string;
  runName?: string;
  logger?: RunLoggerOptions;
  /** Flush on SIGTERM/SIGINT too (default true: a trainer told to stop still delivers what it logged). */
  signals?: boolean;
}

export interface TrainingTracker {
  readonly runId: string;
  readonly logger: RunLogger;
  /** TrainHooks.onLog: every scalar becomes a metric at `step`. */
  onLog(step: number, scalars: Record<string, number>): void;
  /** TrainHooks.onCheckpoint: remembered as the run's latest checkpoint (tag `dcign.checkpoint`). */
  onCheckpoint(step: number, path: string): void;
  /** Flushes, uploads artifacts, ends the run. Returns the logger's final stats. */
  finish(status?: RunStatus, artifacts?: TrialArtifacts): Promise<RunLoggerStats & { complete: boolean }>;
}

const LOSS_KEY = /loss|recon|kl$|^kl|total|elbo/i;
const MAX_CURVE_POINTS = 2000;

export async function trackTraining(config: TrialConfigLike, o: TrackTrainingOptions = {}): Promise<TrainingTracker> {
  const client = o.client ?? new MlflowClient(clientOptionsFromEnv());
  let runId = o.runId;
  if (runId === undefined) {
    const experimentId = await ensureExperiment(client, o.experimentName ?? 'dcign');
    const run = await startTrialRun(client, { ...o, experimentId, config });
    runId = run.info.runId;
  }
  const logger = new RunLogger(client, runId, o.logger);
  if (o.signals ?? true) logger.installSignalHandlers();
  // Loss curves for the plot, thinned by half whenever they grow past MAX_CURVE_POINTS.
  const curves: Record<string, { step: number; value: number }[]> = {};
  let lastCheckpoint: string | undefined;
  const id = runId;
  return {
    runId: id,
    logger,
    onLog(step, scalars) {
      logger.logMetrics(scalars, step);
      for (const key in scalars) {
        if (!LOSS_KEY.test(key)) continue;
        let c = curves[key];
        if (c === undefined) {
          if (Object.keys(curves).length >= 6) continue;
          c = curves[key] = [];
        }
        c.push({ step, value: scalars[key] as number });
        if (c.length > MAX_CURVE_POINTS) curves[key] = c.filter((_, i) => i % 2 === 0);
      }
    },
    onCheckpoint(_step, path) {
      lastCheckpoint = path;
      logger.setTags({ 'dcign.checkpoint': path });
    },
    async finish(status = 'FINISHED', artifacts = {}) {
      const stats = await logger.close();
      const a: TrialArtifacts = { ...artifacts };
      if (a.lossCurves === undefined && Object.keys(curves).length > 0) a.lossCurves = curves;
      if (a.checkpointDir === undefined && lastCheckpoint !== undefined && status === 'FINISHED') a.checkpointDir = lastCheckpoint;
      await logTrialArtifacts(client, id, a);
      await client.endRun(id, status);
      if (o.client === undefined) client.close();
      return stats;
    },
  };
}
