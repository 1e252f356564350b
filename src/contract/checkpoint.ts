// How the orchestration names a checkpoint. A trial's checkpoints are stored as artifacts of its MLflow run, so any
// host that reaches the tracking server can fetch them; the workflow state, heartbeats and results carry that location
// (`runs:/<runId>/<artifactPath>`, MLflow's own URI for run artifacts), never a path on one worker's disk. Without
// MLflow the checkpoint stays where the replica wrote it and the URI is that local path (only that worker can use it).
// Pure (no I/O): workflow code imports it.

/** A checkpoint the trial can resume from: the optimiser steps it holds and where it is stored. */
export interface CheckpointRef {
  readonly step: number;
  /** `runs:/<runId>/checkpoints/step-NNNNNNNN` (durable, any host), or an absolute local path (the writer's host). */
  readonly uri: string;
}

export type CheckpointLocation =
  | { readonly kind: 'mlflow'; readonly runId: string; readonly artifactPath: string }
  | { readonly kind: 'local'; readonly path: string };

const RUNS_SCHEME = 'runs:/';

/** Newest durable checkpoints each trial keeps in MLflow (and in a worker's local cache) unless the spec says. */
export const DEFAULT_KEEP_CHECKPOINTS = 3;

/** A checkpoint's folder name, the same in a run folder and in the trial's MLflow run: step-00001000. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

export function mlflowCheckpointUri(runId: string, artifactPath: string): string {
  return `${RUNS_SCHEME}${runId}/${artifactPath.replace(/^\/+/, '')}`;
}

export function parseCheckpointUri(uri: string): CheckpointLocation {
  if (!uri.startsWith(RUNS_SCHEME)) return { kind: 'local', path: uri };
  const rest = uri.slice(RUNS_SCHEME.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) {
    throw new Error(`checkpoint URI '${uri}' is not runs:/<runId>/<artifactPath>; it was not written by dcign's checkpoint store`);
  }
  return { kind: 'mlflow', runId: rest.slice(0, slash), artifactPath: rest.slice(slash + 1) };
}

/** Whether any host can fetch the checkpoint (it is stored in MLflow), or only the worker that wrote it. */
export function isDurableCheckpoint(uri: string): boolean {
  return uri.startsWith(RUNS_SCHEME);
}
