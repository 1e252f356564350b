// MLflow tracking REST client (API 2.0): experiments, runs, params/tags/metrics through log-batch split to the
// server's limits, run search, metric history, and artifacts through the server's proxy (mlflow-artifacts). Requests go
// through ./transport.ts (connections, authentication, TLS, retries); the records are ./wire.ts.
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Response } from 'node-fetch';
import {
  metricToWire,
  splitBatches,
  validateMetric,
  validateParam,
  validateTag,
  type KeyValue,
  type MetricPoint,
} from './batch.js';
import { MlflowError } from './errors.js';
import { MlflowTransport, type RetryPolicy } from './transport.js';
import {
  encodePath,
  joinArtifactPath,
  kvList,
  metricFromWire,
  num,
  proxyPathFromArtifactUri,
  runFromWire,
  runInfoFromWire,
  str,
  toKv,
  type ArtifactInfo,
  type CreateRunOptions,
  type Experiment,
  type Json,
  type Run,
  type RunInfo,
  type RunStatus,
  type SearchRunsOptions,
} from './wire.js';

export class MlflowClient extends MlflowTransport {
  private readonly artifactRoots = new Map<string, string>();

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
