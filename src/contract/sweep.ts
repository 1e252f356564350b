// The sweep workflow's messages and input: what the CLI sends it and what its trials report to it.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

import type { SweepProgress, SweepSpec, TrialPlan, TrialState } from './types.js';

/** The sweep workflow's type name and signature: clients start it by name, typed without importing workflow code. */
export const SWEEP_WORKFLOW = 'sweepWorkflow';
export type SweepWorkflow = (input: SweepInput) => Promise<SweepProgress>;
/** The PBT workflow's type name (a spec with search.pbt); same input, id (`sweep/<name>`), queries and result. */
export const PBT_WORKFLOW = 'pbtWorkflow';

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
  /**
   * An ended run of this sweep that this run continues (`dcign sweep resume` / `retry`): its progress, with the
   * trials to run again set back to pending and listed in `queue`. Its MLflow runs are reused, nothing is set up anew.
   */
  readonly resumed?: { readonly progress: SweepProgress; readonly queue: readonly string[] };
}

/** A trial's latest status as it reports it to its sweep (state changes always, progress throttled). */
export interface TrialReport {
  readonly key: string;
  readonly state: TrialState;
  readonly step: number;
  readonly generation: number;
  readonly losses: Record<string, number>;
  readonly metrics: Record<string, number>;
  readonly checkpointUri?: string;
  readonly checkpointStep?: number;
  readonly mlflowRunId?: string;
  readonly error?: string;
}

/** A trial's objective at an early-stopping rung (the first log point at or after the rung's step). */
export interface RungReport {
  readonly key: string;
  /** The rung's step (minSteps * eta^k). */
  readonly rung: number;
  /** The step the value was logged at. */
  readonly step: number;
  readonly value: number;
}

export const pauseSignal = defineSignal('pause');
export const rungReachedSignal = defineSignal<[RungReport]>('rungReached');
export const resumeSignal = defineSignal('resume');
export const cancelSignal = defineSignal<[reason?: string]>('cancel');
export const trialReportSignal = defineSignal<[TrialReport]>('trialReport');
export const progressQuery = defineQuery<SweepProgress>('progress');
export const specQuery = defineQuery<SweepSpec>('spec');
/** Sets failed trials (the named ones, or every failed one when none is named) back in the queue; returns their keys. */
export const retryTrialsUpdate = defineUpdate<string[], [readonly string[]]>('retryTrials');
/** Adds trials to a running sweep; returns the keys actually added (known keys are skipped). */
export const addTrialsUpdate = defineUpdate<string[], [readonly TrialPlan[]]>('addTrials');
