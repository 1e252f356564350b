// The trial workflow's messages: progress and curve queries, pause and stop signals, the replicas' rendezvous
// (like torchrun's, with the workflow as the store) and their progress reports. Workflow code: deterministic.
import { ApplicationFailure, condition, patched, setHandler } from '@temporalio/workflow';

import {
  checkpointStoredUpdate,
  joinUpdate,
  pauseRequestedQuery,
  pauseTrialSignal,
  replicaProgressSignal,
  stopTrialSignal,
  trialCurveQuery,
  trialProgressQuery,
} from '../src/contract/index.js';
import type { RendezvousResult, ReplicaProgress } from '../src/contract/index.js';
import type { TrialRungs } from './trial-rungs.js';
import { PATCH_STOP_AFTER_LAST_STEP, trialProgress } from './trial-state.js';
import type { TrialRun } from './trial-state.js';

/** Longest curve kept in workflow state (payloads stay far below the 2 MB limit); older points are thinned. */
const MAX_CURVE_POINTS = 2000;

export function setTrialHandlers(r: TrialRun, rungs: TrialRungs): void {
  const { replicas } = r.input;
  setHandler(trialProgressQuery, () => trialProgress(r));
  setHandler(trialCurveQuery, () => r.curve);
  setHandler(pauseTrialSignal, () => {
    r.pauseRequested = true;
  });
  setHandler(pauseRequestedQuery, () => r.pauseRequested);
  setHandler(stopTrialSignal, (reason) => {
    if (r.stopReason !== undefined || r.evaluatingFinal) return; // its final evaluation has begun: it completes
    // A stop decided after the last step still stops the trial (older code let it evaluate and complete).
    if (r.trainedToEnd && !patched(PATCH_STOP_AFTER_LAST_STEP)) return;
    r.stopReason = reason;
    r.groupScope?.cancel();
    rungs.evaluations?.cancel(); // a rung evaluation still running has nothing left to decide
  });

  // ---- rendezvous: each replica of the current generation joins with its endpoint; all get the peer list
  setHandler(
    joinUpdate,
    async (req): Promise<RendezvousResult> => {
      r.joined.set(req.replicaIndex, req.endpoint);
      const gen = req.generation;
      await condition(() => r.generation !== gen || r.joined.size === replicas);
      if (r.generation !== gen) throw ApplicationFailure.nonRetryable(`generation ${gen} was replaced by ${r.generation} while joining`, 'StaleGeneration');
      const peers = Array.from({ length: replicas }, (_, i) => r.joined.get(i) as string);
      return { rank: req.replicaIndex, worldSize: replicas, generation: gen, peers, groupId: r.workflowId };
    },
    {
      validator: (req) => {
        if (req.generation !== r.generation) throw new Error(`stale generation ${req.generation}: the group is at generation ${r.generation}`);
        if (!Number.isInteger(req.replicaIndex) || req.replicaIndex < 0 || req.replicaIndex >= replicas) {
          throw new Error(`replica index ${req.replicaIndex} is outside 0..${replicas - 1}`);
        }
        if (typeof req.endpoint !== 'string' || !req.endpoint.startsWith('tcp://')) throw new Error(`bad endpoint ${String(req.endpoint)}`);
      },
    },
  );

  const applyProgress = (p: ReplicaProgress): void => {
    if (p.step > r.step) r.step = p.step;
    if (p.scalars) r.losses = p.scalars;
    if (p.checkpoint && (!r.lastCheckpoint || p.checkpoint.step >= r.lastCheckpoint.step)) {
      r.lastCheckpoint = p.checkpoint;
      rungs.evaluations?.accepted(p.checkpoint);
    }
    for (const point of p.points ?? []) {
      const last = r.curve[r.curve.length - 1];
      if (!last || point.step > last.step) r.curve.push(point);
      rungs.reached(point);
    }
    if (r.curve.length > MAX_CURVE_POINTS) r.curve = r.curve.filter((_, i) => i % 2 === 0 || i >= r.curve.length - 100);
    r.reportDue = true;
  };
  setHandler(replicaProgressSignal, (p) => {
    if (p.generation === r.generation) applyProgress(p); // else a stale replica of a replaced group
  });
  setHandler(checkpointStoredUpdate, (p) => {
    if (p.generation !== r.generation) return false;
    applyProgress(p);
    return true;
  });
}
