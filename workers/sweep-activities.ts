// The sweep workflow's activities (workflows/sweep.ts): set up its MLflow experiment and parent run, reopen the
// parent run when an ended sweep is resumed, and write the sweep's summary on it when it ends.
import { activityInfo } from '@temporalio/activity';
import type { Client } from '@temporalio/client';

import { sweepSummaryRows, writeSweepSummary } from '../src/tracking/sweep-summary.js';
import { ensureExperiment, startSweepParentRun } from '../src/tracking/trial-logging.js';
import type { SweepProgress, SweepSpec } from '../src/contract/types.js';
import { SEARCH_ATTRIBUTE_TYPES, specVariants } from '../src/contract/index.js';
import type { ActivityDeps } from './activity-deps.js';

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types
export function createSweepActivities(deps: ActivityDeps) {
  async function setupSweep(req: { name: string; spec: SweepSpec; trialCount: number }): Promise<{
    experimentId?: string;
    parentRunId?: string;
    searchAttributes: string[];
  }> {
    const searchAttributes = await hasSearchAttributes(deps.temporal, deps.namespace ?? 'default');
    if (!deps.mlflow) return { searchAttributes };
    const experimentId = await ensureExperiment(deps.mlflow, req.name); // opens on its runs table in MLflow 3's UI
    await deps.mlflow.setExperimentTag(experimentId, 'dcign.sweep', req.name);
    const wf = activityInfo().workflowExecution;
    const run = await startSweepParentRun(deps.mlflow, {
      experimentId,
      sweepName: req.name,
      spec: req.spec,
      ...(wf ? { workflowId: wf.workflowId, workflowRunId: wf.runId } : {}),
      params: {
        dataset: req.spec.dataset,
        'model.variant': specVariants(req.spec).join(','),
        replicas: req.spec.replicas,
        trials: req.trialCount,
        steps: req.spec.train.steps,
        batchSize: req.spec.train.batchSize,
      },
    });
    return { experimentId, parentRunId: run.info.runId, searchAttributes };
  }

  /**
   * A sweep run that continues an ended one (`dcign sweep resume`): its parent run is reopened, nothing is created.
   * Returns the search attributes the server has, as setupSweep does.
   */
  async function reopenSweep(req: { parentRunId?: string }): Promise<{ searchAttributes: string[] }> {
    const searchAttributes = await hasSearchAttributes(deps.temporal, deps.namespace ?? 'default');
    if (deps.mlflow && req.parentRunId) {
      await deps.mlflow.updateRun(req.parentRunId, { status: 'RUNNING' });
      const wf = activityInfo().workflowExecution;
      if (wf) await deps.mlflow.setTags(req.parentRunId, { 'temporal.runId': wf.runId });
    }
    return { searchAttributes };
  }

  /**
   * The sweep's summary on its parent run: summary/summary.csv and .json, one plot per metric against beta per latent
   * size, a markdown table as the run's description (src/tracking/trial-logging.ts), and every trial's full status.
   */
  async function summarizeSweep(req: { progress: SweepProgress; model?: Record<string, unknown> }): Promise<void> {
    const p = req.progress;
    if (!deps.mlflow || !p.parentRunId) return;
    const rows = sweepSummaryRows(p, req.model); // grouped by variant and architecture too
    await writeSweepSummary(deps.mlflow, p.parentRunId, rows, { sweepName: p.name });
    await deps.mlflow.logArtifactBytes(p.parentRunId, 'summary/trials.json', JSON.stringify(p.trials, null, 2));
    const counts = { completed: 0, stopped: 0, failed: 0, cancelled: 0 };
    for (const t of p.trials) if (t.state in counts) counts[t.state as keyof typeof counts] += 1;
    await deps.mlflow.logMetrics(p.parentRunId, {
      'trials/completed': counts.completed,
      'trials/stopped': counts.stopped,
      'trials/failed': counts.failed,
      'trials/cancelled': counts.cancelled,
    });
    await deps.mlflow.endRun(p.parentRunId, p.state === 'cancelled' ? 'KILLED' : counts.failed > 0 && counts.completed === 0 ? 'FAILED' : 'FINISHED');
  }

  return { setupSweep, reopenSweep, summarizeSweep };
}

/** Which of dcign's search attributes the server has registered (upserting an unknown one fails the workflow). */
async function hasSearchAttributes(client: Client, namespace: string): Promise<string[]> {
  try {
    const res = await client.connection.operatorService.listSearchAttributes({ namespace });
    const custom = res.customAttributes ?? {};
    return Object.keys(SEARCH_ATTRIBUTE_TYPES).filter((k) => k in custom);
  } catch {
    return [];
  }
}
