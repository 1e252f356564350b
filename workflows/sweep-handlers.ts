// The sweep's messages: progress and spec queries, pause/resume/cancel signals, the trials' reports, and the
// retry/add updates with their validators (a refused update names why and what to run instead). ASHA's rung reports
// are ./early-stopping.ts. Handlers only change state; the main loop (./sweep.ts) acts on it. Deterministic.
import { setHandler } from '@temporalio/workflow';

import type { TrialStatus } from '../src/contract/types.js';
import {
  addTrialsUpdate,
  cancelSignal,
  pauseSignal,
  progressQuery,
  resumeSignal,
  retryTrialsUpdate,
  specQuery,
  trialReportSignal,
} from '../src/contract/index.js';
import { handleRungReports } from './early-stopping.js';
import { addTrials, pausedAt, TERMINAL, type SweepRun } from './sweep-state.js';

export function setSweepHandlers(r: SweepRun): void {
  const { spec, progress, byKey } = r;
  setHandler(progressQuery, () => progress);
  handleRungReports(spec, () => progress.trials);
  setHandler(specQuery, () => spec);
  setHandler(pauseSignal, () => {
    if (progress.state !== 'running') return;
    progress.state = 'paused';
    r.pauseTrialsDue = true;
  });
  setHandler(resumeSignal, () => {
    if (progress.state === 'paused') progress.state = 'running';
  });
  setHandler(cancelSignal, (reason) => {
    r.cancelRequested = true;
    if (reason) r.cancelReason = reason;
  });
  setHandler(trialReportSignal, (report) => {
    const t = byKey.get(report.key);
    if (!t || TERMINAL.has(t.state) || t.state === 'paused') return; // late report after the sweep recorded its end
    t.step = report.step;
    t.generation = report.generation;
    t.losses = report.losses;
    t.metrics = report.metrics;
    if (report.checkpointUri) t.checkpointUri = report.checkpointUri;
    if (report.checkpointStep !== undefined) t.checkpointStep = report.checkpointStep;
    if (report.mlflowRunId) t.mlflowRunId = report.mlflowRunId;
    if (report.error) t.error = report.error;
    if (report.state === 'paused') {
      pausedAt(r, t);
      return;
    }
    t.state = report.state;
    if (TERMINAL.has(report.state)) t.endedAt = Date.now();
  });
  setHandler(
    retryTrialsUpdate,
    (keys) => {
      const chosen = keys.length > 0 ? keys.map((k) => byKey.get(k) as TrialStatus) : progress.trials.filter((t) => t.state === 'failed');
      for (const t of chosen) {
        t.state = 'pending';
        delete t.error;
        delete t.endedAt;
        r.queue.push(t.key);
      }
      return chosen.map((t) => t.key);
    },
    {
      validator: (keys) => {
        if (r.cancelRequested || progress.state === 'cancelled' || progress.state === 'completed') {
          throw new Error(`sweep ${spec.name} is ${r.cancelRequested ? 'cancelling' : progress.state}; \`dcign sweep retry\` on an ended sweep starts a new run of it`);
        }
        for (const k of keys) {
          const t = byKey.get(k);
          if (!t) throw new Error(`sweep ${spec.name} has no trial '${k}'; \`dcign sweep status ${spec.name}\` lists its trials`);
          if (t.state !== 'failed') throw new Error(`trial '${k}' is ${t.state}, not failed; only failed trials are retried`);
        }
      },
    },
  );
  setHandler(addTrialsUpdate, (points) => addTrials(r, points), {
    validator: (points) => {
      if (r.cancelRequested || progress.state === 'cancelled' || progress.state === 'completed') {
        throw new Error(`sweep ${spec.name} is ${r.cancelRequested ? 'cancelling' : progress.state}; it takes no new trials`);
      }
      if (!Array.isArray(points) || points.length === 0) throw new Error('addTrials needs at least one point');
      for (const p of points) {
        if (typeof p?.key !== 'string' || typeof p.seed !== 'number' || typeof p.params !== 'object') {
          throw new Error(`bad point ${JSON.stringify(p)}: expected {key, params, seed}`);
        }
      }
    },
  });
}
