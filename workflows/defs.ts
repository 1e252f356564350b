// Messages of the sweep and trial workflows (signals, queries, updates), their input types and search attributes.
// Shared by the workflows, the activities (rendezvous, progress) and the CLI; imports only @temporalio/workflow and
// pure modules.
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

import type { RendezvousResult } from '../src/sweep/activity-types.js';
import type { ParamValue, SweepProgress, SweepSpec, TrainConfigJson, TrialPlan, TrialState } from '../src/sweep/types.js';

// ---- search attributes (registered by `dcign dev up` and by the test server; `dcign sweep start` adds missing ones)
export const SEARCH_ATTRIBUTE_TYPES = {
  DcignSweep: 'Keyword',
  DcignTrial: 'Keyword',
  DcignModel: 'Keyword',
  DcignBeta: 'Double',
  DcignLatent: 'Int',
} as const;
export const SA_SWEEP = defineSearchAttributeKey('DcignSweep', 'KEYWORD');
export const SA_TRIAL = defineSearchAttributeKey('DcignTrial', 'KEYWORD');
export const SA_MODEL = defineSearchAttributeKey('DcignModel', 'KEYWORD');
export const SA_BETA = defineSearchAttributeKey('DcignBeta', 'DOUBLE');
export const SA_LATENT = defineSearchAttributeKey('DcignLatent', 'INT');

// ---- ids
export const sweepWorkflowId = (name: string): string => `sweep/${name}`;
export const trialWorkflowId = (sweepName: string, trialKey: string): string => `sweep/${sweepName}/${trialKey}`;
/** Bookkeeping activities (MLflow runs, evaluation, summary) run here; the spec's queue is for training slots. */
export const controlQueue = (taskQueue: string): string => `${taskQueue}.control`;

// ---- sweep
export interface SweepInput {
  readonly spec: SweepSpec;
  /** Trials to run; expanded from the spec when absent. */
  readonly trials?: readonly TrialPlan[];
  /** Continue as new once the history holds this many events (default 10000; the server limit is 51200). */
  readonly maxHistoryEvents?: number;
  /** How often a trial forwards its progress to the sweep, in ms of workflow time (default 5000). */
  readonly progressReportMs?: number;
  /** State carried over a continue-as-new. */
  readonly carried?: { readonly progress: SweepProgress; readonly queue: readonly string[]; readonly searchAttributes: readonly string[] };
}

export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const cancelSignal = defineSignal<[reason?: string]>('cancel');
/** Sent by each trial workflow to its sweep: its latest status (state changes always, progress throttled). */
export const trialReportSignal = defineSignal<[TrialReport]>('trialReport');
export const progressQuery = defineQuery<SweepProgress>('progress');
export const specQuery = defineQuery<SweepSpec>('spec');
/** Adds trials to a running sweep; returns the keys actually added (known keys are skipped). */
export const addTrialsUpdate = defineUpdate<string[], [readonly TrialPlan[]]>('addTrials');

export interface TrialReport {
  readonly key: string;
  readonly state: TrialState;
  readonly step: number;
  readonly generation: number;
  readonly losses: Record<string, number>;
  readonly metrics: Record<string, number>;
  readonly checkpointPath?: string;
  readonly mlflowRunId?: string;
  readonly error?: string;
}

// ---- trial
export interface TrialInput {
  readonly sweepName: string;
  readonly trial: TrialPlan;
  /** Trainer config; its runDir is relative to each worker's run root (a shared file system for cross-node resume). */
  readonly train: TrainConfigJson;
  readonly replicas: number;
  readonly taskQueue: string;
  readonly evaluation: SweepSpec['evaluation'];
  readonly retry: SweepSpec['retry'];
  readonly mlflow: { readonly experimentId?: string; readonly parentRunId?: string };
  /** Sweep workflow id to report to; none when the trial runs on its own. */
  readonly parentWorkflowId?: string;
  /** Names of dcign's search attributes registered on the server; only these are upserted. */
  readonly searchAttributes: readonly string[];
  readonly progressReportMs?: number;
}

export interface CurvePoint {
  readonly step: number;
  readonly scalars: Record<string, number>;
}

export interface TrialResult {
  readonly key: string;
  readonly params: Readonly<Record<string, ParamValue>>;
  readonly seed: number;
  readonly state: 'completed';
  readonly step: number;
  readonly generations: number;
  readonly metrics: Record<string, number>;
  readonly losses: Record<string, number>;
  readonly checkpointPath?: string;
  readonly mlflowRunId?: string;
  /** Loss curve as the final model trained it: steps after a restart's checkpoint are replaced, never repeated. */
  readonly curve: readonly CurvePoint[];
}

export interface JoinRequest {
  readonly generation: number;
  readonly replicaIndex: number;
  /** tcp://host:port this replica will bind for the all-reduce ring. */
  readonly endpoint: string;
}

/** Replica -> trial progress (rank 0 reports losses and checkpoints; throttled by the activity). */
export interface ReplicaProgress {
  readonly generation: number;
  readonly replicaIndex: number;
  readonly step: number;
  readonly scalars?: Record<string, number>;
  readonly checkpoint?: { readonly step: number; readonly path: string };
  /** Every log point since the last report (so the curve has no gaps). */
  readonly points?: readonly CurvePoint[];
}

export interface TrialProgress {
  readonly key: string;
  readonly state: TrialState;
  readonly generation: number;
  readonly step: number;
  readonly losses: Record<string, number>;
  readonly lastCheckpoint?: { readonly step: number; readonly path: string };
  readonly joined: number;
  readonly replicas: number;
  readonly restarts: readonly { readonly generation: number; readonly reason: string; readonly resumeStep: number }[];
}

export const joinUpdate = defineUpdate<RendezvousResult, [JoinRequest]>('join');
export const replicaProgressSignal = defineSignal<[ReplicaProgress]>('replicaProgress');
export const trialProgressQuery = defineQuery<TrialProgress>('trialProgress');
export const trialCurveQuery = defineQuery<readonly CurvePoint[]>('trialCurve');
