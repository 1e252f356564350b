// Splitting metrics, params and tags into runs/log-batch requests that respect the server's limits, and the checks
// that make a bad key or an over-long value fail where it is logged instead of in a background flush.
// Limits: MLflow REST API, LogBatch "Request Limits" (1 MB per request; at most 1000 metrics, 100 params, 100 tags and
// 1000 items in total) and mlflow/utils/validation.py (keys 250 chars, param values 6000, tag values 5000 guaranteed on
// every backend; MLflow 3's SQL store accepts 8000).
import { MlflowError } from './errors.js';

export interface MetricPoint {
  key: string;
  value: number;
  /** Milliseconds since the epoch. */
  timestamp: number;
  step: number;
}

export interface KeyValue {
  key: string;
  value: string;
}

export interface BatchLimits {
  maxMetrics: number;
  maxParams: number;
  maxTags: number;
  maxItems: number;
  /** Bytes of the JSON request body. */
  maxBytes: number;
  maxKeyLength: number;
  maxParamValueLength: number;
  maxTagValueLength: number;
}

export const MLFLOW_LIMITS: Readonly<BatchLimits> = Object.freeze({
  maxMetrics: 1000,
  maxParams: 100,
  maxTags: 100,
  maxItems: 1000,
  maxBytes: 1_000_000,
  maxKeyLength: 250,
  maxParamValueLength: 6000,
  maxTagValueLength: 5000,
});

export interface LogBatchBody {
  metrics: MetricPoint[];
  params: KeyValue[];
  tags: KeyValue[];
}

/** A metric value as MLflow's protobuf JSON expects it: non-finite doubles travel as strings. */
export type WireDouble = number | 'NaN' | 'Infinity' | '-Infinity';

export function toWireDouble(value: number): WireDouble {
  if (Number.isFinite(value)) return value;
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? 'Infinity' : '-Infinity';
}

export function fromWireDouble(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    if (value === 'NaN') return NaN;
    if (value === 'Infinity') return Infinity;
    if (value === '-Infinity') return -Infinity;
    return Number(value);
  }
  return NaN;
}

export function metricToWire(m: MetricPoint): { key: string; value: WireDouble; timestamp: number; step: number } {
  return { key: m.key, value: toWireDouble(m.value), timestamp: m.timestamp, step: m.step };
}

function invalid(message: string): MlflowError {
  return new MlflowError({ errorCode: 'INVALID_ARGUMENT', message, endpoint: 'client-side validation' });
}

/**
 * MLflow stores keys as file-like names: non-empty, at most 250 characters, and equal to their own normalised posix
 * path (no leading '/', no '.', '..' or empty segments).
 */
export function validateKey(kind: 'metric' | 'param' | 'tag', key: string, limits: BatchLimits = MLFLOW_LIMITS): void {
  if (typeof key !== 'string' || key.length === 0) throw invalid(`${kind} key must be a non-empty string`);
  if (key.length > limits.maxKeyLength) {
    throw invalid(`${kind} key '${key.slice(0, 40)}...' has ${key.length} characters; MLflow allows ${limits.maxKeyLength}`);
  }
  const segments = key.split('/');
  if (key.startsWith('/') || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw invalid(`${kind} key '${key}' is not a normalised path (no leading '/', no empty, '.' or '..' segments)`);
  }
}

export function validateMetric(key: string, value: number, step: number, limits: BatchLimits = MLFLOW_LIMITS): void {
  validateKey('metric', key, limits);
  if (typeof value !== 'number') throw invalid(`metric '${key}' value must be a number, got ${typeof value}`);
  if (!Number.isSafeInteger(step)) throw invalid(`metric '${key}' step must be an integer, got ${step}`);
}

export function validateParam(key: string, value: string, limits: BatchLimits = MLFLOW_LIMITS): void {
  validateKey('param', key, limits);
  if (value.length > limits.maxParamValueLength) {
    throw invalid(
      `param '${key}' value has ${value.length} characters; MLflow keeps at most ${limits.maxParamValueLength}. ` +
        'Log it as an artifact (e.g. a JSON file) instead of a param.',
    );
  }
}

export function validateTag(key: string, value: string, limits: BatchLimits = MLFLOW_LIMITS): void {
  validateKey('tag', key, limits);
  if (value.length > limits.maxTagValueLength) {
    throw invalid(
      `tag '${key}' value has ${value.length} characters; MLflow keeps at most ${limits.maxTagValueLength}. ` +
        'Log it as an artifact instead of a tag.',
    );
  }
}

/** Bytes an item adds to the JSON body (its serialisation plus a separating comma). */
function itemBytes(item: unknown): number {
  return Buffer.byteLength(JSON.stringify(item), 'utf8') + 1;
}

/** Room for `{"run_id":"...","metrics":[],"params":[],"tags":[]}` and a margin. */
const ENVELOPE_BYTES = 512;

/**
 * Splits metrics, params and tags into request bodies each within `limits`. Order within each kind is kept (MLflow
 * applies a batch's items of one kind in request order), so a later value of a tag still wins.
 */
export function splitBatches(
  items: { metrics?: readonly MetricPoint[]; params?: readonly KeyValue[]; tags?: readonly KeyValue[] },
  limits: BatchLimits = MLFLOW_LIMITS,
): LogBatchBody[] {
  const out: LogBatchBody[] = [];
  let cur: LogBatchBody = { metrics: [], params: [], tags: [] };
  let bytes = ENVELOPE_BYTES;
  const count = (): number => cur.metrics.length + cur.params.length + cur.tags.length;
  const close = (): void => {
    if (count() > 0) out.push(cur);
    cur = { metrics: [], params: [], tags: [] };
    bytes = ENVELOPE_BYTES;
  };
  const add = <T>(kind: 'metrics' | 'params' | 'tags', item: T, wire: unknown, max: number): void => {
    const b = itemBytes(wire);
    if (ENVELOPE_BYTES + b > limits.maxBytes) {
      throw invalid(`a single ${kind.slice(0, -1)} is ${b} bytes as JSON, over the ${limits.maxBytes}-byte request limit`);
    }
    if ((cur[kind] as unknown[]).length >= max || count() >= limits.maxItems || bytes + b > limits.maxBytes) close();
    (cur[kind] as T[]).push(item);
    bytes += b;
  };
  // Params and tags first: a run's params usually come before its metrics, and they are few.
  for (const p of items.params ?? []) add('params', p, p, limits.maxParams);
  for (const t of items.tags ?? []) add('tags', t, t, limits.maxTags);
  for (const m of items.metrics ?? []) add('metrics', m, metricToWire(m), limits.maxMetrics);
  close();
  return out;
}
