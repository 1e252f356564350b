// The sweep's evaluate step on a worker: scores a trial's final checkpoint (src/eval, the same function as `dcign
// eval`) on the metrics its spec lists, and uploads every artifact plus the checkpoint itself to the trial's MLflow run;
// for an early-stopping rung (metricsOnly) the metrics alone. Imports TensorFlow, so it runs in its own process
// (evaluate-child.ts).
import path from 'node:path';

import { evaluateCheckpoint, evaluateCheckpointMetrics, type EvaluationEvent } from '../src/eval/evaluate-checkpoint.js';
import { MlflowClient, clientOptionsFromEnv, logTrialArtifacts } from '../src/tracking/index.js';
import { resolveCheckpointDir } from '../src/train/checkpoint.js';
import type { EvaluateRequest } from './activity-deps.js';

/** Metrics that need the (expensive) sampling protocol of BetaVAE / FactorVAE. */
const SAMPLING_METRICS = new Set(['beta-vae', 'factor-vae']);

export async function evaluateTrial(req: EvaluateRequest, log: (e: EvaluationEvent) => void = () => undefined): Promise<Record<string, number>> {
  const checkpointDir = resolveCheckpointDir(req.checkpointPath);
  const out = path.join(path.dirname(path.dirname(checkpointDir)), 'eval');
  const scoring = {
    dataset: req.dataset,
    seed: req.seed,
    numTrain: req.evaluation.numTrain,
    numTest: req.evaluation.numTest,
    skipSampling: !req.evaluation.metrics.some((m) => SAMPLING_METRICS.has(m)),
    metrics: req.evaluation.metrics, // the spec's list, not every metric
  };
  const finite = (m: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(m).filter(([, v]) => Number.isFinite(v)));
  // An early-stopping rung: the metrics only, nothing written or uploaded (the activity logs them at the step).
  if (req.metricsOnly === true) return finite((await evaluateCheckpointMetrics(checkpointDir, scoring, log)).metrics);

  const result = await evaluateCheckpoint(checkpointDir, { ...scoring, out, traversalSteps: 9 }, log);
  const metrics = finite(result.metrics);

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
        traversals: result.files.traversals,
        reconstructions: result.files.reconstructions,
        ...(Object.keys(curves).length ? { lossCurves: curves } : {}),
        checkpointDir: result.checkpointDir,
      });
      await client.logArtifact(req.mlflowRunId, result.files.metricsJson, 'eval');
      if (result.files.heatmap !== undefined) await client.logArtifact(req.mlflowRunId, result.files.heatmap, 'eval');
      // what `dcign report` reads: the posterior audit and one traversal GIF per latent
      await client.logArtifact(req.mlflowRunId, result.files.posterior, 'eval');
      for (const gif of result.files.traversalGifs) await client.logArtifact(req.mlflowRunId, gif, 'eval/traversals');
      // Metrics skipped (an unlabelled dataset) are named on the run, with the reason, so the UI shows why they are absent.
      const skipped = Object.keys(result.skipped);
      if (skipped.length > 0) {
        await client.setTags(req.mlflowRunId, {
          'dcign.eval.skipped': skipped.join(','),
          'dcign.eval.skipped_reason': Object.values(result.skipped)[0] as string,
        });
      }
    } finally {
      client.close();
    }
  }
  return metrics;
}
