// The MLflow client's transport: one HTTP(S) connection pool to the tracking server, authentication and TLS as in
// MLflow's Python client (username and password (Basic) take precedence over a token (Bearer);
// MLFLOW_TRACKING_INSECURE_TLS skips certificate checks; MLFLOW_TRACKING_SERVER_CERT_PATH names a CA bundle), retries
// with backoff by what a request may repeat, and failures turned into MlflowErrors that say what to do.
// The REST API itself is ./client.ts.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import fetch, { type RequestInit, type Response } from 'node-fetch';
import { MLFLOW_LIMITS, type BatchLimits } from './batch.js';
import { MlflowError } from './errors.js';
import { clientOptionsFromEnv, trackingUriFromEnv, type MlflowClientOptions } from './options.js';
import type { Json } from './wire.js';

/** How a request may be retried: any transient failure, only ones the server cannot have applied, or never. */
export type RetryPolicy = 'idempotent' | 'unapplied' | 'never';

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  body?: () => Buffer | Readable;
  headers?: Record<string, string>;
  retry: RetryPolicy;
  timeoutMs?: number;
}

const CONNECTION_NOT_MADE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class MlflowTransport {
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
  protected readonly timeoutMs: number;

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
  protected async send(method: string, p: string, o: RequestOptions): Promise<Response> {
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

  protected async call(method: 'GET' | 'POST', endpoint: string, o: Omit<RequestOptions, 'retry'> & { retry?: RetryPolicy }): Promise<Json> {
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
  }}
