// The trial workflow's messages and input: the rendezvous its replicas join, the progress they report, and what the
// CLI and the sweep read back.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

import type { RendezvousResult } from '../parallel/types.js';
import type { CheckpointRef } from './checkpoint.js';
import type { ParamValue, SweepSpec, TrainConfigJson, TrialPlan, TrialState } from './types.js';

export type { RendezvousResult };

/** The trial workflow's type name and signature (a child of the sweep, or started on its own). */
export const TRIAL_WORKFLOW = 'trialWorkflow';
export type TrialWorkflow = (input: TrialInput) => Promise<TrialResult>;

export interface TrialInput {
  readonly sweepName: string;
  readonly trial: TrialPlan;
  /** Trainer config; its runDir is relative to each worker's run root (a local cache of the trial's checkpoints). */
  readonly train: TrainConfigJson;
  readonly replicas: number;
  readonly taskQueue: string;
  readonly evaluation: SweepSpec['evaluation'];
  readonly retry: SweepSpec['retry'];
  readonly mlflow: { readonly experimentId?: string; readonly parentRunId?: string };
  /** Durable checkpoints kept in the trial's MLflow run (newest K); DEFAULT_KEEP_CHECKPOINTS when absent. */
  readonly checkpoints?: { readonly keep: number };
  /** Sweep workflow id to report to; none when the trial runs on its own. */
  readonly parentWorkflowId?: string;
  /** Names of dcign's search attributes registered on the server; only these are upserted. */
  readonly searchAttributes: readonly string[];
  readonly progressReportMs?: number;
  /**
   * Where an earlier workflow of this trial stopped (a pause, an ended sweep): its newest checkpoint and the next
   * generation number. The newest checkpoint stored in the trial's MLflow run is used when it is newer.
   */
  readonly resume?: { readonly checkpoint?: CheckpointRef; readonly generation: number };
  /**
   * Early stopping: the objective compared at each rung step; the trial reports it there to its sweep. For the
   * held-out `elbo` the trial has rank 0 compute it at those steps (src/sweep/early-stopping.ts trainForEarlyStopping).
   * `evaluated`: an evaluation metric (mig, ...): rank 0 writes a checkpoint at each rung and the trial evaluates it
   * beside training (absent in trials started before it existed: a training scalar).
   */
  readonly earlyStopping?: { readonly metric: string; readonly rungs: readonly number[]; readonly evaluated?: boolean };
  /**
   * One generation of a PBT member (workflows/pbt.ts). `pauseAtEnd`: a generation before the last ends `paused` at
   * its last step (no evaluation; the MLflow run stays open for the next). The resume checkpoint given (an exploited
   * donor's copy) wins over the run's own checkpoint of the same step. Absent in every other trial.
   */
  readonly pbt?: { readonly pauseAtEnd: boolean };
}

export interface CurvePoint {
  readonly step: number;
  readonly scalars: Record<string, number>;
}

export interface TrialResult {
  readonly key: string;
  readonly params: Readonly<Record<string, ParamValue>>;
  readonly seed: number;
  /**
   * `paused`: stopped by a pause after storing its checkpoint at `step`; a later workflow of the trial continues.
   * `stopped`: early stopping ended it at a rung (no evaluation; `stopped` says why).
   */
  readonly state: 'completed' | 'paused' | 'stopped';
  readonly stopped?: string;
  readonly step: number;
  /** The last generation + 1 (generations are numbered on across pauses and resumes, see `resume`). */
  readonly generations: number;
  readonly metrics: Record<string, number>;
  readonly losses: Record<string, number>;
  /** The final checkpoint (`runs:/...` when tracked in MLflow). */
  readonly checkpointUri?: string;
  readonly mlflowRunId?: string;
  /**
   * Loss curve as the final model trained it: steps after a restart's checkpoint are replaced, never repeated. A
   * resumed trial's curve starts after its resume checkpoint (the MLflow run holds the whole history).
   */
  readonly curve: readonly CurvePoint[];
}

export interface JoinRequest {
  readonly generation: number;
  readonly replicaIndex: number;
  /** tcp://host:port the replica has bound for the all-reduce ring. */
  readonly endpoint: string;
}

/** Replica -> trial progress (rank 0 reports losses and checkpoints; throttled by the activity). */
export interface ReplicaProgress {
  readonly generation: number;
  readonly replicaIndex: number;
  readonly step: number;
  readonly scalars?: Record<string, number>;
  /** A checkpoint the trial can resume from; with MLflow, sent only once it is stored there whole. */
  readonly checkpoint?: CheckpointRef;
  /** Every log point since the last report (so the curve has no gaps). */
  readonly points?: readonly CurvePoint[];
}

export interface TrialProgress {
  readonly key: string;
  readonly state: TrialState;
  readonly generation: number;
  readonly step: number;
  readonly losses: Record<string, number>;
  /** Where a restarted group resumes (durable in MLflow when the trial is tracked). */
  readonly lastCheckpoint?: CheckpointRef;
  readonly joined: number;
  readonly replicas: number;
  readonly restarts: readonly { readonly generation: number; readonly reason: string; readonly resumeStep: number }[];
}

/** The rendezvous: a replica joins with the endpoint it bound and gets its rank and every peer once all R joined. */
export const joinUpdate = defineUpdate<RendezvousResult, [JoinRequest]>('join');
export const replicaProgressSignal = defineSignal<[ReplicaProgress]>('replicaProgress');
/**
 * Rank 0's worker reports a checkpoint stored whole (durable). True when the trial's current generation took it as
 * its resume point; only then may the losses it covers go to MLflow. A replaced generation gets false, so a group that
 * lives on after Temporal gave up on it (an outage, a cut link) never logs a step its successor logs again.
 */
export const checkpointStoredUpdate = defineUpdate<boolean, [ReplicaProgress]>('checkpointStored');
/** The sweep stops a trial (early stopping): its replicas are stopped, it ends as `stopped`, not failed. */
export const stopTrialSignal = defineSignal<[reason: string]>('stopTrial');
/**
 * The sweep's answer to a rung report that promoted the trial (a stop is answered with stopTrial). A trial that has
 * trained to its end waits for the answer to every rung it reported before it evaluates, so whether ASHA stops it
 * depends on the values recorded, not on whether its last step beat the decision.
 */
export const rungPromotedSignal = defineSignal<[rung: number]>('rungPromoted');
export const trialProgressQuery = defineQuery<TrialProgress>('trialProgress');
/** Pause: the group stops at its next step boundary with a checkpoint, and the trial ends `paused`. */
export const pauseTrialSignal = defineSignal('pauseTrial');
/** Whether a pause was asked for: rank 0's worker polls it and tells its replica (workers/activities.ts). */
export const pauseRequestedQuery = defineQuery<boolean>('pauseRequested');
export const trialCurveQuery = defineQuery<readonly CurvePoint[]>('trialCurve');
