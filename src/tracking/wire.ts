// The MLflow REST API's records as dcign reads them (experiments, runs, artifacts), converted from the server's JSON,
// and the artifact paths of the server's proxy (mlflow-artifacts).
import type { KeyValue, MetricPoint } from './batch.js';
import { fromWireDouble } from './batch.js';
import { MlflowError } from './errors.js';

export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface Experiment {
  experimentId: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: string;
  tags: Record<string, string>;
}

export interface RunInfo {
  runId: string;
  experimentId: string;
  runName: string;
  status: RunStatus;
  startTime: number;
  endTime: number | undefined;
  artifactUri: string;
  lifecycleStage: string;
}

export interface Run {
  info: RunInfo;
  data: {
    /** Latest value per key, as the server keeps it. */
    metrics: Record<string, MetricPoint>;
    params: Record<string, string>;
    tags: Record<string, string>;
  };
}

export interface CreateRunOptions {
  experimentId: string;
  runName?: string;
  /** Makes this a child run: sets `mlflow.parentRunId`, the only thing the UI nests by. */
  parentRunId?: string;
  tags?: Record<string, string>;
  startTime?: number;
}

export interface SearchRunsOptions {
  experimentIds: string[];
  /** MLflow search syntax, e.g. `tags.mlflow.parentRunId = 'abc' and params.seed = '1'`. */
  filter?: string;
  orderBy?: string[];
  runViewType?: 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL';
  /** Page size (server maximum 50000). */
  pageSize?: number;
  /** Stop after this many runs. */
  maxResults?: number;
}

export interface ArtifactInfo {
  /** Path relative to the run's artifact root, '/'-separated. */
  path: string;
  isDir: boolean;
  fileSize: number | undefined;
}

export type Json = Record<string, unknown>;

export function str(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

export function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? NaN);
}

export function kvList(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(v)) for (const e of v as Json[]) out[str(e.key)] = str(e.value);
  return out;
}

export function toKv(rec: Record<string, string>): KeyValue[] {
  return Object.entries(rec).map(([key, value]) => ({ key, value }));
}

export function metricFromWire(m: Json): MetricPoint {
  return { key: str(m.key), value: fromWireDouble(m.value), timestamp: num(m.timestamp), step: num(m.step ?? 0) };
}

export function runInfoFromWire(i: Json): RunInfo {
  return {
    runId: str(i.run_id ?? i.run_uuid),
    experimentId: str(i.experiment_id),
    runName: str(i.run_name),
    status: str(i.status) as RunStatus,
    startTime: num(i.start_time),
    endTime: i.end_time === undefined ? undefined : num(i.end_time),
    artifactUri: str(i.artifact_uri),
    lifecycleStage: str(i.lifecycle_stage),
  };
}

export function runFromWire(r: Json): Run {
  const data = (r.data ?? {}) as Json;
  const metrics: Record<string, MetricPoint> = {};
  if (Array.isArray(data.metrics)) for (const m of data.metrics as Json[]) metrics[str(m.key)] = metricFromWire(m);
  return {
    info: runInfoFromWire((r.info ?? {}) as Json),
    data: { metrics, params: kvList(data.params), tags: kvList(data.tags) },
  };
}

/** The path of a run's artifact root inside the server's artifact proxy, from its `mlflow-artifacts:` URI. */
export function proxyPathFromArtifactUri(artifactUri: string): string {
  const marker = '/api/2.0/mlflow-artifacts/artifacts/';
  if (artifactUri.startsWith('mlflow-artifacts:')) {
    const u = new URL(artifactUri);
    return decodeURIComponent(u.pathname).replace(/^\/+/, '').replace(/\/+$/, '');
  }
  const at = artifactUri.indexOf(marker);
  if (/^https?:/.test(artifactUri) && at >= 0) return decodeURIComponent(artifactUri.slice(at + marker.length));
  throw new MlflowError({
    errorCode: 'UNSUPPORTED',
    endpoint: 'artifact proxy',
    message:
      `the run's artifact location is '${artifactUri}', which the tracking server does not proxy; dcign uploads ` +
      'artifacts through the server. Start the server with --serve-artifacts (and --artifacts-destination), and ' +
      'use an experiment created while it was on.',
  });
}

export function encodePath(p: string): string {
  return p
    .split('/')
    .filter((s) => s !== '')
    .map(encodeURIComponent)
    .join('/');
}

export function joinArtifactPath(...parts: (string | undefined)[]): string {
  return parts
    .filter((p): p is string => p !== undefined && p !== '')
    .join('/')
    .replace(/\/+/g, '/')
    .replace(/^\/|\/$/g, '');
}
