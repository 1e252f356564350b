// MLflow tracking REST client (API 2.0) over node-fetch: experiments, runs, params/tags/metrics through log-batch split
// to the server's limits, run search, metric history, and artifacts through the server's proxy (mlflow-artifacts).
// Authentication and TLS settings follow MLflow's Python client (mlflow/utils/rest_utils.py): username and password
// (Basic) take precedence over a token (Bearer); MLFLOW_TRACKING_INSECURE_TLS skips certificate checks;
// MLFLOW_TRACKING_SERVER_CERT_PATH names a CA bundle.
import { createReadStream, createWriteStream, promises as fsp, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fetch, { type RequestInit, type Response } from 'node-fetch';
import {
  fromWireDouble,
  MLFLOW_LIMITS,
  metricToWire,
  splitBatches,
  validateMetric,
  validateParam,
  validateTag,
  type BatchLimits,
  type KeyValue,
  type MetricPoint,
} from './batch.js';
import { MlflowError } from './errors.js';

export const DEFAULT_TRACKING_URI = 'http://127.0.0.1:5000';

/** MLFLOW_TRACKING_URI, or the embedded dev server's address when it is unset. */
export function trackingUriFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const uri = env.MLFLOW_TRACKING_URI?.trim();
  return uri !== undefined && uri !== '' ? uri : DEFAULT_TRACKING_URI;
}

export interface MlflowClientOptions {
  /** http(s)://host[:port][/prefix]; defaults to {@link trackingUriFromEnv}. */
  trackingUri?: string;
  /** Bearer token (MLFLOW_TRACKING_TOKEN). */
  token?: string;
  /** Basic auth (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD); wins over the token, as in MLflow. */
  username?: string;
  password?: string;
  /** Skip TLS certificate verification (MLFLOW_TRACKING_INSECURE_TLS=true). Testing only. */
  insecureTls?: boolean;
  /** CA bundle to verify the server with (MLFLOW_TRACKING_SERVER_CERT_PATH). */
  serverCertPath?: string;
  /** Retries after the first attempt for retryable failures (MLFLOW_HTTP_REQUEST_MAX_RETRIES; default 5). */
  maxRetries?: number;
  /** First backoff delay in ms, doubled per retry with jitter (default 500). */
  backoffMs?: number;
  /** Longest backoff delay in ms (default 16000). */
  maxBackoffMs?: number;
  /** Per-request timeout in ms (MLFLOW_HTTP_REQUEST_TIMEOUT in seconds; default 120 s). */
  timeoutMs?: number;
  /** Log-batch limits; MLflow's by default. */
  limits?: Partial<BatchLimits>;
}

/** Options from MLflow's environment variables, as its Python client reads them. */
export function clientOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): MlflowClientOptions {
  const opts: MlflowClientOptions = { trackingUri: trackingUriFromEnv(env) };
  if (env.MLFLOW_TRACKING_TOKEN) opts.token = env.MLFLOW_TRACKING_TOKEN;
  if (env.MLFLOW_TRACKING_USERNAME) opts.username = env.MLFLOW_TRACKING_USERNAME;
  if (env.MLFLOW_TRACKING_PASSWORD) opts.password = env.MLFLOW_TRACKING_PASSWORD;
  const insecure = env.MLFLOW_TRACKING_INSECURE_TLS?.toLowerCase();
  if (insecure === 'true' || insecure === '1') opts.insecureTls = true;
  if (env.MLFLOW_TRACKING_SERVER_CERT_PATH) opts.serverCertPath = env.MLFLOW_TRACKING_SERVER_CERT_PATH;
  const retries = Number(env.MLFLOW_HTTP_REQUEST_MAX_RETRIES);
  if (env.MLFLOW_HTTP_REQUEST_MAX_RETRIES && Number.isInteger(retries) && retries >= 0) opts.maxRetries = retries;
  const timeoutS = Number(env.MLFLOW_HTTP_REQUEST_TIMEOUT);
  if (env.MLFLOW_HTTP_REQUEST_TIMEOUT && timeoutS > 0) opts.timeoutMs = timeoutS * 1000;
  return opts;
}

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

/** How a request may be retried: any transient failure, only ones the server cannot have applied, or never. */
export type RetryPolicy = 'idempotent' | 'unapplied' | 'never';

interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  body?: () => Buffer | Readable;
  headers?: Record<string, string>;
  retry: RetryPolicy;
  timeoutMs?: number;
}

type Json = Record<string, unknown>;

const CONNECTION_NOT_MADE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function str(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? NaN);
}

function kvList(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(v)) for (const e of v as Json[]) out[str(e.key)] = str(e.value);
  return out;
}

function toKv(rec: Record<string, string>): KeyValue[] {
  return Object.entries(rec).map(([key, value]) => ({ key, value }));
}

export function metricFromWire(m: Json): MetricPoint {
  return { key: str(m.key), value: fromWireDouble(m.value), timestamp: num(m.timestamp), step: num(m.step ?? 0) };
}

function runInfoFromWire(i: Json): RunInfo {
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

function runFromWire(r: Json): Run {
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

function encodePath(p: string): string {
  return p
    .split('/')
    .filter((s) => s !== '')
    .map(encodeURIComponent)
    .join('/');
}

function joinArtifactPath(...parts: (string | undefined)[]): string {
  return parts
    .filter((p): p is string => p !== undefined && p !== '')
    .join('/')
    .replace(/\/+/g, '/')
    .replace(/^\/|\/$/g, '');
}

export class MlflowClient {
  readonly trackingUri: string;
  readonly limits: BatchLimits;
  private readonly base: URL;
  /** Path prefix of the server ('' or e.g. '/mlflow'), without a trailing slash. */
  private readonly basePath: string;
  private readonly auth: string | undefined;
  private readonly agent: http.Agent | https.Agent;
  /** For requests that must not be repeated: a new connection each, so none meets a keep-alive socket the server closed. */
  private readonly freshAgent: http.Agent | https.Agent;
  private readonly maxRetries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly timeoutMs: number;
  private readonly artifactRoots = new Map<string, string>();

  constructor(opts: MlflowClientOptions = clientOptionsFromEnv()) {
    const uri = opts.trackingUri ?? trackingUriFromEnv();
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw new MlflowError({
        errorCode: 'INVALID_ARGUMENT',
        endpoint: uri,
        message: `tracking URI '${uri}' is not a URL; set MLFLOW_TRACKING_URI to http(s)://host:port of an MLflow server`,
      });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new MlflowError({
        errorCode: 'UNSUPPORTED',
        endpoint: uri,
        message:
          `tracking URI '${uri}' is not http(s); dcign talks to an MLflow tracking server over REST. ` +
          'Start one with `dcign dev up` or set MLFLOW_TRACKING_URI to http(s)://host:port.',
      });
    }
    let username = opts.username;
    let password = opts.password;
    if (url.username !== '') {
      // Credentials in the URI (https://user:pass@host) act like the environment variables; fetch refuses them in URLs.
      username ??= decodeURIComponent(url.username);
      password ??= decodeURIComponent(url.password);
      url.username = '';
      url.password = '';
    }
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.base = url;
    this.trackingUri = url.toString().replace(/\/$/, '');
    if (username && password) this.auth = 'Basic ' + Buffer.from(`${username}:${password}`).toString('base64');
    else if (opts.token) this.auth = `Bearer ${opts.token}`;
    if (url.protocol === 'https:') {
      if (opts.insecureTls && opts.serverCertPath) {
        throw new MlflowError({
          errorCode: 'INVALID_ARGUMENT',
          endpoint: uri,
          message: 'MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH cannot both be set',
        });
      }
      const tls = {
        rejectUnauthorized: !opts.insecureTls,
        ...(opts.serverCertPath ? { ca: readFileSync(opts.serverCertPath) } : {}),
      };
      this.agent = new https.Agent({ keepAlive: true, ...tls });
      this.freshAgent = new https.Agent({ keepAlive: false, ...tls });
    } else {
      this.agent = new http.Agent({ keepAlive: true });
      this.freshAgent = new http.Agent({ keepAlive: false });
    }
    this.maxRetries = opts.maxRetries ?? 5;
    this.backoffMs = opts.backoffMs ?? 500;
    this.maxBackoffMs = opts.maxBackoffMs ?? 16_000;
    this.timeoutMs = opts.timeoutMs ?? 120_000;
    this.limits = { ...MLFLOW_LIMITS, ...opts.limits };
  }

  /** Closes idle keep-alive sockets so the process can exit promptly. */
  close(): void {
    this.agent.destroy();
    this.freshAgent.destroy();
  }

  // ---------------------------------------------------------------- HTTP

  private url(p: string, query?: Record<string, string | number | undefined>): URL {
    const u = new URL(this.base.toString());
    u.pathname = this.basePath + p;
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u;
  }

  private describeNetworkError(endpoint: string, err: unknown): MlflowError {
    const e = err as { code?: string; name?: string; message?: string; type?: string };
    const code = e.code ?? (e.name === 'AbortError' || e.name === 'TimeoutError' ? 'TIMEOUT' : undefined);
    if (code === 'TIMEOUT') {
      return new MlflowError({
        errorCode: 'TIMEOUT',
        endpoint,
        transient: true,
        maybeApplied: true,
        cause: err,
        message: `the MLflow tracking server at ${this.trackingUri} did not answer ${endpoint} in time`,
      });
    }
    // EPIPE: the request could not be written whole, so the server cannot have acted on it.
    const notMade = code !== undefined && (CONNECTION_NOT_MADE.has(code) || code === 'EPIPE');
    const tls = /certificate|self[- ]signed|SSL|TLS/i.test(e.message ?? '') || /CERT|SSL/.test(code ?? '');
    let hint =
      'Start the dev stack with `dcign dev up`, or set MLFLOW_TRACKING_URI to a running MLflow server ' +
      `(it is ${process.env.MLFLOW_TRACKING_URI ? `'${process.env.MLFLOW_TRACKING_URI}'` : 'unset'}).`;
    if (tls) {
      hint =
        'The TLS handshake failed: set MLFLOW_TRACKING_SERVER_CERT_PATH to the CA bundle that signed the server ' +
        'certificate (or, for testing only, MLFLOW_TRACKING_INSECURE_TLS=true).';
    }
    return new MlflowError({
      errorCode: 'CONNECTION_FAILED',
      endpoint,
      transient: !tls,
      maybeApplied: !notMade && !tls,
      cause: err,
      message: `cannot reach the MLflow tracking server at ${this.trackingUri} (${code ?? e.message}) for ${endpoint}. ${hint}`,
    });
  }

  private async httpError(endpoint: string, res: Response): Promise<MlflowError> {
    const text = await res.text().catch(() => '');
    let errorCode: string | undefined;
    let message: string | undefined;
    try {
      const j = JSON.parse(text) as Json;
      if (typeof j.error_code === 'string') errorCode = j.error_code;
      if (typeof j.message === 'string') message = j.message;
    } catch {
      // not JSON (a proxy or the auth app answered): fall back on the status
    }
    const s = res.status;
    errorCode ??=
      s === 401
        ? 'UNAUTHENTICATED'
        : s === 403
          ? 'PERMISSION_DENIED'
          : s === 404
            ? 'ENDPOINT_NOT_FOUND'
            : s === 429
              ? 'REQUEST_LIMIT_EXCEEDED'
              : s >= 500
                ? 'INTERNAL_ERROR'
                : 'BAD_REQUEST';
    message ??= text.trim().slice(0, 500) || res.statusText;
    if (s === 403 && /Invalid Host header/i.test(text)) {
      // MLflow 3's DNS-rebinding guard, not an authentication failure: no credentials would help.
      const host = new URL(this.trackingUri).host;
      return new MlflowError({
        errorCode: 'HOST_NOT_ALLOWED',
        endpoint,
        status: s,
        message:
          `MLflow ${endpoint} failed with HTTP 403: the server at ${this.trackingUri} refused the Host header ${JSON.stringify(host)} ` +
          `(its --allowed-hosts setting, a guard against DNS rebinding; our credentials were not the problem). Fix: start the server ` +
          `with --allowed-hosts ${host} (and --cors-allowed-origins http://${host} for browsers); \`dcign dev up --host <address>\` does so`,
      });
    }
    if (s === 401 || s === 403) {
      message +=
        ` (the MLflow server at ${this.trackingUri} refused our credentials: ` +
        (this.auth === undefined
          ? 'none were sent; set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD)'
          : `sent ${this.auth.startsWith('Basic') ? 'MLFLOW_TRACKING_USERNAME/PASSWORD (Basic)' : 'MLFLOW_TRACKING_TOKEN (Bearer)'}; check them)`);
    }
    const transient = s === 429 || s >= 500;
    return new MlflowError({
      errorCode,
      endpoint,
      status: s,
      transient,
      maybeApplied: s >= 500 && s !== 503,
      message: `MLflow ${endpoint} failed with HTTP ${s} ${errorCode}: ${message}`,
    });
  }

  private backoff(attempt: number, retryAfter?: string | null): number {
    const ra = retryAfter ? Number(retryAfter) * 1000 : NaN;
    if (Number.isFinite(ra) && ra >= 0) return Math.min(ra, 60_000);
    const d = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** attempt);
    return d / 2 + (Math.random() * d) / 2;
  }

  /** Sends one request with retries; returns the successful response (body unread). */
  private async send(method: string, p: string, o: RequestOptions): Promise<Response> {
    const endpoint = `${method} ${this.basePath}${p}`;
    for (let attempt = 0; ; attempt++) {
      let err: MlflowError;
      let retryAfter: string | null = null;
      try {
        const headers: Record<string, string> = { 'User-Agent': 'dcign-mlflow-client', ...o.headers };
        if (this.auth) headers.Authorization = this.auth;
        const init: RequestInit = {
          method,
          headers,
          agent: o.retry === 'idempotent' ? this.agent : this.freshAgent,
          signal: AbortSignal.timeout(o.timeoutMs ?? this.timeoutMs),
        };
        if (o.json !== undefined) {
          init.body = JSON.stringify(o.json);
          headers['Content-Type'] = 'application/json';
        } else if (o.body) {
          init.body = o.body();
        }
        const res = await fetch(this.url(p, o.query), init);
        if (res.ok) return res;
        retryAfter = res.headers.get('retry-after');
        err = await this.httpError(endpoint, res);
      } catch (e) {
        // node-fetch reports network trouble as FetchError (type 'system') or AbortError (our timeout); anything
        // else is a bug on our side and goes up as it is.
        const name = (e as { name?: string }).name;
        if (name !== 'FetchError' && name !== 'AbortError' && name !== 'TimeoutError') throw e;
        err = this.describeNetworkError(endpoint, e);
      }
      const retryable =
        err.transient && (o.retry === 'idempotent' || (o.retry === 'unapplied' && !err.maybeApplied));
      if (!retryable || attempt >= this.maxRetries) throw err;
      await sleep(this.backoff(attempt, retryAfter));
    }
  }

  private async call(method: 'GET' | 'POST', endpoint: string, o: Omit<RequestOptions, 'retry'> & { retry?: RetryPolicy }): Promise<Json> {
    const res = await this.send(method, `/api/2.0/mlflow/${endpoint}`, { retry: method === 'GET' ? 'idempotent' : 'never', ...o });
    const text = await res.text();
    if (text === '') return {};
    try {
      return JSON.parse(text) as Json;
    } catch (cause) {
      throw new MlflowError({
        errorCode: 'BAD_RESPONSE',
        endpoint: `${method} /api/2.0/mlflow/${endpoint}`,
        cause,
        message: `MLflow ${endpoint} answered with something that is not JSON: ${text.slice(0, 200)}`,
      });
    }
  }

  /** GET /health: resolves when the server answers. */
  async ping(): Promise<void> {
    const res = await this.send('GET', '/health', { retry: 'never' });
    await res.text();
  }

  // ---------------------------------------------------------------- experiments

  async getExperimentByName(name: string): Promise<Experiment | undefined> {
    try {
      const j = await this.call('GET', 'experiments/get-by-name', { query: { experiment_name: name } });
      const e = (j.experiment ?? {}) as Json;
      return {
        experimentId: str(e.experiment_id),
        name: str(e.name),
        artifactLocation: str(e.artifact_location),
        lifecycleStage: str(e.lifecycle_stage),
        tags: kvList(e.tags),
      };
    } catch (err) {
      if (err instanceof MlflowError && err.errorCode === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw err;
    }
  }

  async createExperiment(name: string, tags: Record<string, string> = {}): Promise<string> {
    // Not idempotent, but a retry that meets RESOURCE_ALREADY_EXISTS is resolved by getOrCreateExperiment.
    const j = await this.call('POST', 'experiments/create', { json: { name, tags: toKv(tags) }, retry: 'unapplied' });
    return str(j.experiment_id);
  }

  async setExperimentTag(experimentId: string, key: string, value: string): Promise<void> {
    validateTag(key, value, this.limits);
    await this.call('POST', 'experiments/set-experiment-tag', {
      json: { experiment_id: experimentId, key, value },
      retry: 'idempotent',
    });
  }

  /** The id of the experiment called `name`, created if missing (safe against a concurrent creator). */
  async getOrCreateExperiment(name: string, tags: Record<string, string> = {}): Promise<string> {
    const found = await this.getExperimentByName(name);
    if (found) {
      if (found.lifecycleStage === 'deleted') {
        throw new MlflowError({
          errorCode: 'RESOURCE_DELETED',
          endpoint: 'GET /api/2.0/mlflow/experiments/get-by-name',
          message:
            `experiment '${name}' (id ${found.experimentId}) is deleted; restore it in the MLflow UI or with ` +
            `\`mlflow experiments restore --experiment-id ${found.experimentId}\`, or use another name`,
        });
      }
      return found.experimentId;
    }
    try {
      return await this.createExperiment(name, tags);
    } catch (err) {
      if (!(err instanceof MlflowError && err.errorCode === 'RESOURCE_ALREADY_EXISTS')) throw err;
      const again = await this.getExperimentByName(name);
      if (!again) throw err;
      return again.experimentId;
    }
  }

  // ---------------------------------------------------------------- runs

  async createRun(o: CreateRunOptions): Promise<Run> {
    const tags: Record<string, string> = { ...o.tags };
    if (o.parentRunId) tags['mlflow.parentRunId'] = o.parentRunId;
    if (o.runName) tags['mlflow.runName'] = o.runName;
    for (const [k, v] of Object.entries(tags)) validateTag(k, v, this.limits);
    const j = await this.call('POST', 'runs/create', {
      json: {
        experiment_id: o.experimentId,
        start_time: o.startTime ?? Date.now(),
        ...(o.runName ? { run_name: o.runName } : {}),
        tags: toKv(tags),
      },
      // A lost response would leave a stray run behind, so only retry failures the server cannot have seen.
      retry: 'unapplied',
    });
    const run = runFromWire((j.run ?? {}) as Json);
    this.artifactRoots.set(run.info.runId, run.info.artifactUri);
    return run;
  }

  async getRun(runId: string): Promise<Run> {
    const j = await this.call('GET', 'runs/get', { query: { run_id: runId } });
    const run = runFromWire((j.run ?? {}) as Json);
    this.artifactRoots.set(run.info.runId, run.info.artifactUri);
    return run;
  }

  async updateRun(runId: string, o: { status?: RunStatus; endTime?: number; runName?: string }): Promise<RunInfo> {
    const j = await this.call('POST', 'runs/update', {
      json: {
        run_id: runId,
        ...(o.status ? { status: o.status } : {}),
        ...(o.endTime !== undefined ? { end_time: o.endTime } : {}),
        ...(o.runName ? { run_name: o.runName } : {}),
      },
      retry: 'idempotent',
    });
    return runInfoFromWire((j.run_info ?? {}) as Json);
  }

  /** Marks the run ended (FINISHED unless told otherwise) now. */
  async endRun(runId: string, status: RunStatus = 'FINISHED'): Promise<RunInfo> {
    return this.updateRun(runId, { status, endTime: Date.now() });
  }

  // ---------------------------------------------------------------- params, tags, metrics

  /**
   * Logs through runs/log-batch, split to the server's limits and sent in order. Everything is validated before the
   * first request, so a too-long param fails here and nothing is half-logged for that reason.
   * Requests carrying metrics are retried only when the server cannot have applied them (log-batch appends metric
   * points; {@link RunLogger} handles the lost-response case by reading metric history back).
   */
  async logBatch(
    runId: string,
    items: { metrics?: readonly MetricPoint[]; params?: readonly KeyValue[]; tags?: readonly KeyValue[] },
  ): Promise<void> {
    for (const m of items.metrics ?? []) validateMetric(m.key, m.value, m.step, this.limits);
    for (const p of items.params ?? []) validateParam(p.key, p.value, this.limits);
    for (const t of items.tags ?? []) validateTag(t.key, t.value, this.limits);
    for (const b of splitBatches(items, this.limits)) await this.sendBatch(runId, b);
  }

  /** One log-batch request, assumed within limits. */
  async sendBatch(
    runId: string,
    b: { metrics: readonly MetricPoint[]; params: readonly KeyValue[]; tags: readonly KeyValue[] },
    retry: RetryPolicy = b.metrics.length > 0 ? 'unapplied' : 'idempotent',
  ): Promise<void> {
    await this.call('POST', 'runs/log-batch', {
      json: { run_id: runId, metrics: b.metrics.map(metricToWire), params: b.params, tags: b.tags },
      retry,
    });
  }

  async logParams(runId: string, params: Record<string, string | number | boolean>): Promise<void> {
    await this.logBatch(runId, {
      params: Object.entries(params).map(([key, value]) => ({ key, value: String(value) })),
    });
  }

  async setTags(runId: string, tags: Record<string, string>): Promise<void> {
    await this.logBatch(runId, { tags: toKv(tags) });
  }

  async logMetrics(runId: string, metrics: Record<string, number>, step = 0, timestamp = Date.now()): Promise<void> {
    await this.logBatch(runId, {
      metrics: Object.entries(metrics).map(([key, value]) => ({ key, value, step, timestamp })),
    });
  }

  /** Every point logged for `key`, following the server's pages. */
  async getMetricHistory(
    runId: string,
    key: string,
    o: { pageSize?: number; retry?: boolean } = {},
  ): Promise<MetricPoint[]> {
    const out: MetricPoint[] = [];
    let pageToken: string | undefined;
    do {
      const j = await this.call('GET', 'metrics/get-history', {
        query: { run_id: runId, metric_key: key, max_results: o.pageSize ?? 25_000, page_token: pageToken },
        retry: o.retry === false ? 'never' : 'idempotent',
      });
      if (Array.isArray(j.metrics)) for (const m of j.metrics as Json[]) out.push(metricFromWire(m));
      pageToken = typeof j.next_page_token === 'string' && j.next_page_token !== '' ? j.next_page_token : undefined;
    } while (pageToken !== undefined);
    return out;
  }

  /** One page of runs/search. */
  async searchRunsPage(o: SearchRunsOptions, pageToken?: string): Promise<{ runs: Run[]; nextPageToken?: string }> {
    const j = await this.call('POST', 'runs/search', {
      json: {
        experiment_ids: o.experimentIds,
        ...(o.filter ? { filter: o.filter } : {}),
        ...(o.orderBy ? { order_by: o.orderBy } : {}),
        run_view_type: o.runViewType ?? 'ACTIVE_ONLY',
        max_results: o.pageSize ?? 1000,
        ...(pageToken ? { page_token: pageToken } : {}),
      },
      retry: 'idempotent',
    });
    const runs = Array.isArray(j.runs) ? (j.runs as Json[]).map(runFromWire) : [];
    const next = typeof j.next_page_token === 'string' && j.next_page_token !== '' ? j.next_page_token : undefined;
    return next === undefined ? { runs } : { runs, nextPageToken: next };
  }

  /** All runs matching, across pages (up to `maxResults`). */
  async searchRuns(o: SearchRunsOptions): Promise<Run[]> {
    const out: Run[] = [];
    let token: string | undefined;
    do {
      const page = await this.searchRunsPage(o, token);
      out.push(...page.runs);
      token = page.nextPageToken;
    } while (token !== undefined && (o.maxResults === undefined || out.length < o.maxResults));
    return o.maxResults === undefined ? out : out.slice(0, o.maxResults);
  }

  // ---------------------------------------------------------------- artifacts (through the server's proxy)

  private async artifactBase(runId: string): Promise<string> {
    let uri = this.artifactRoots.get(runId);
    if (uri === undefined) uri = (await this.getRun(runId)).info.artifactUri;
    return proxyPathFromArtifactUri(uri);
  }

  private artifactsEndpoint(p: string): string {
    return `/api/2.0/mlflow-artifacts/artifacts/${encodePath(p)}`;
  }

  /** Uploads bytes (a Buffer or string) as `artifactPath` (e.g. `summary/table.csv`) in the run. */
  async logArtifactBytes(runId: string, artifactPath: string, data: Buffer | string): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const target = joinArtifactPath(await this.artifactBase(runId), artifactPath);
    const res = await this.send('PUT', this.artifactsEndpoint(target), {
      body: () => buf,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(buf.length) },
      retry: 'idempotent',
    });
    await res.text();
  }

  /**
   * Uploads a local file, streamed (checkpoints can be large), to `<artifactDir>/<basename>` in the run. A retry reopens
   * the file, so the upload is byte-identical whichever attempt lands.
   */
  async logArtifact(runId: string, localPath: string, artifactDir?: string): Promise<string> {
    const st = await fsp.stat(localPath);
    const rel = joinArtifactPath(artifactDir, path.basename(localPath));
    const target = joinArtifactPath(await this.artifactBase(runId), rel);
    const res = await this.send('PUT', this.artifactsEndpoint(target), {
      body: () => createReadStream(localPath),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(st.size) },
      retry: 'idempotent',
      // Time for the transfer itself at a pessimistic 1 MB/s on top of the usual limit.
      timeoutMs: Math.ceil(this.timeoutMs + st.size / 1000),
    });
    await res.text();
    return rel;
  }

  /** Uploads a directory tree under `artifactDir` (its own name when omitted). Returns the uploaded paths. */
  async logArtifacts(runId: string, localDir: string, artifactDir: string = path.basename(localDir)): Promise<string[]> {
    const out: string[] = [];
    const entries = await fsp.readdir(localDir, { withFileTypes: true });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const full = path.join(localDir, e.name);
      if (e.isDirectory()) out.push(...(await this.logArtifacts(runId, full, joinArtifactPath(artifactDir, e.name))));
      else if (e.isFile()) out.push(await this.logArtifact(runId, full, artifactDir));
    }
    return out;
  }

  /** The entries directly under `artifactPath` (the run's root when omitted). */
  async listArtifacts(runId: string, artifactPath = ''): Promise<ArtifactInfo[]> {
    const base = joinArtifactPath(await this.artifactBase(runId), artifactPath);
    const res = await this.send('GET', '/api/2.0/mlflow-artifacts/artifacts', {
      query: { path: base },
      retry: 'idempotent',
    });
    const j = (await res.json()) as Json;
    const files = Array.isArray(j.files) ? (j.files as Json[]) : [];
    return files.map((f) => ({
      path: joinArtifactPath(artifactPath, path.posix.basename(str(f.path))),
      isDir: f.is_dir === true,
      fileSize: f.file_size === undefined ? undefined : num(f.file_size),
    }));
  }

  /** Every file under `artifactPath`, recursively. */
  async listArtifactsRecursive(runId: string, artifactPath = ''): Promise<ArtifactInfo[]> {
    const out: ArtifactInfo[] = [];
    for (const f of await this.listArtifacts(runId, artifactPath)) {
      if (f.isDir) out.push(...(await this.listArtifactsRecursive(runId, f.path)));
      else out.push(f);
    }
    return out;
  }

  private async download(runId: string, artifactPath: string): Promise<Response> {
    const target = joinArtifactPath(await this.artifactBase(runId), artifactPath);
    // The limit covers reading the body too; checkpoints can take a while.
    return this.send('GET', this.artifactsEndpoint(target), { retry: 'idempotent', timeoutMs: Math.max(this.timeoutMs, 3_600_000) });
  }

  /** Streams an artifact to `destFile` (written to a temporary name, then renamed, so it is never half there). */
  async downloadArtifact(runId: string, artifactPath: string, destFile: string): Promise<void> {
    const res = await this.download(runId, artifactPath);
    if (res.body === null) throw new MlflowError({ errorCode: 'BAD_RESPONSE', endpoint: artifactPath, message: 'empty body' });
    await fsp.mkdir(path.dirname(destFile), { recursive: true });
    const tmp = `${destFile}.part-${process.pid}`;
    try {
      await pipeline(res.body, createWriteStream(tmp));
      await fsp.rename(tmp, destFile);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
  }

  /**
   * Deletes an artifact file or directory (recursively) of the run: `DELETE /api/2.0/mlflow-artifacts/artifacts/<path>`
   * of the server's proxy (mlflow/server/handlers.py `_delete_artifact_mlflow_artifacts`). A path that is not there
   * is no error, so a retry after a lost response is harmless.
   */
  async deleteArtifact(runId: string, artifactPath: string): Promise<void> {
    if (joinArtifactPath(artifactPath) === '') {
      throw new MlflowError({ errorCode: 'INVALID_ARGUMENT', endpoint: 'artifact proxy', message: 'deleteArtifact needs a path inside the run; refusing to delete the run\'s whole artifact root' });
    }
    const target = joinArtifactPath(await this.artifactBase(runId), artifactPath);
    const res = await this.send('DELETE', this.artifactsEndpoint(target), { retry: 'idempotent' });
    await res.text();
  }

  /** An artifact's bytes in memory (small files: JSON, PNG, CSV). */
  async readArtifact(runId: string, artifactPath: string): Promise<Buffer> {
    const res = await this.download(runId, artifactPath);
    return Buffer.from(await res.arrayBuffer());
  }
}
