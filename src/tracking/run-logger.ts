// Buffered, spooling run logger for the trainer: logging calls only enqueue (a training step never waits on the
// network); a background flusher sends log-batch requests; during an outage the backlog goes to an append-only JSONL
// spool file per run and is retried with backoff; after recovery each metric point (key, step) arrives exactly once.
//
// Exactly once, given that log-batch appends metric points and is not idempotent:
//  - a metric (key, step) is accepted once per logger; a repeat is counted and dropped;
//  - a point leaves the queue only when its request was acknowledged;
//  - when a request failed in a way the server may still have applied (lost response, timeout, 5xx), the affected
//    keys are marked uncertain and, before anything is resent, their metric history is read back and the points
//    already there are dropped from the queue. (MLflow's SQL store also ignores an exact duplicate point, same key,
//    value, timestamp and step; timestamps are fixed at enqueue, so the two guards agree.)
//  - a spool left by a process that died is replayed by the next logger for the same run (its keys start uncertain).
//
// The spool file itself is run-spool.ts. The rest stays one file: the queue, the flusher, the read-back of uncertain
// keys and the waiters of flush() are one state machine over the same queue, and exactly once rests on all of them.
import { validateMetric, validateParam, validateTag, type KeyValue, type MetricPoint } from './batch.js';
import type { MlflowClient } from './client.js';
import { MlflowError } from './errors.js';
import { defaultSpoolDir, RunSpool, spoolFileOf, type Item } from './run-spool.js';

export interface RunLoggerOptions {
  /** Directory for spool files (`<runId>.jsonl`); default DCIGN_SPOOL_DIR or ~/.cache/dcign/spool. */
  spoolDir?: string;
  /** Send what is queued at least this often (ms, default 1000). */
  flushIntervalMs?: number;
  /** Start sending without waiting for the interval once this many items are queued (default 1000). */
  eagerBatchSize?: number;
  /** First retry delay during an outage (ms, default 250), doubled up to `maxBackoffMs` (default 10000). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Told about failures: `transient` ones are retried, others mean the items were dropped (bad request). */
  onError?: (err: MlflowError, info: { transient: boolean; dropped: number }) => void;
  /**
   * Flush on normal exit (beforeExit) and write what is left to the spool on 'exit' (default true). Signals are
   * opt-in: {@link RunLogger.installSignalHandlers}.
   */
  flushOnExit?: boolean;
}

export interface RunLoggerStats {
  enqueued: number;
  delivered: number;
  pending: number;
  duplicatesDropped: number;
  /** Points found already on the server when reading back after an uncertain failure. */
  foundOnServer: number;
  failedRequests: number;
  droppedOnError: number;
  /** Items written to the spool file so far. */
  spooled: number;
  requests: number;
}

export class RunLogger {
  readonly runId: string;
  readonly spoolFile: string;
  private readonly client: MlflowClient;
  private readonly opts: Required<Omit<RunLoggerOptions, 'onError' | 'spoolDir' | 'flushOnExit'>>;
  private readonly onError: RunLoggerOptions['onError'];

  private queue: Item[] = [];
  private nextId = 1;
  private readonly steps = new Map<string, Set<number>>();
  private readonly params = new Map<string, string>();
  private readonly uncertain = new Set<string>();

  private pumping: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private failures = 0;
  private closed = false;
  /** Set by close(): the flusher gives up after the current request. */
  private stopped = false;
  private readonly waiters: { upTo: number; resolve: () => void }[] = [];

  /** Where the backlog goes during an outage (run-spool.ts). */
  private readonly spool: RunSpool;

  private readonly s: RunLoggerStats = {
    enqueued: 0,
    delivered: 0,
    pending: 0,
    duplicatesDropped: 0,
    foundOnServer: 0,
    failedRequests: 0,
    droppedOnError: 0,
    spooled: 0,
    requests: 0,
  };
  private handlers: { event: string; fn: () => void }[] = [];

  constructor(client: MlflowClient, runId: string, opts: RunLoggerOptions = {}) {
    this.client = client;
    this.runId = runId;
    this.opts = {
      flushIntervalMs: opts.flushIntervalMs ?? 1000,
      eagerBatchSize: opts.eagerBatchSize ?? client.limits.maxMetrics,
      backoffMs: opts.backoffMs ?? 250,
      maxBackoffMs: opts.maxBackoffMs ?? 10_000,
    };
    this.onError = opts.onError;
    this.spoolFile = spoolFileOf(opts.spoolDir ?? defaultSpoolDir(), runId);
    this.spool = new RunSpool(this.spoolFile, this.onError);
    this.replaySpool();
    this.timer = setInterval(() => this.kick(), this.opts.flushIntervalMs);
    this.timer.unref();
    if (opts.flushOnExit ?? true) this.installExitFlush();
    if (this.queue.length > 0) this.kick();
  }

  // ---------------------------------------------------------------- enqueue (synchronous, cheap)

  /** Queues one point. A second point for the same key and step is dropped (counted in stats). */
  logMetric(key: string, value: number, step: number, timestamp: number = Date.now()): void {
    let seen = this.steps.get(key);
    if (seen === undefined) {
      validateMetric(key, value, step, this.client.limits);
      seen = new Set();
      this.steps.set(key, seen);
    } else if (typeof value !== 'number' || !Number.isSafeInteger(step)) {
      validateMetric(key, value, step, this.client.limits);
    }
    if (seen.has(step)) {
      this.s.duplicatesDropped++;
      return;
    }
    seen.add(step);
    this.push({ id: this.nextId++, kind: 'metric', key, value, step, timestamp });
  }

  logMetrics(values: Record<string, number>, step: number, timestamp: number = Date.now()): void {
    for (const key in values) this.logMetric(key, values[key] as number, step, timestamp);
  }

  /** Params are write-once in MLflow: a different value for a logged key throws here rather than later. */
  logParams(params: Record<string, string | number | boolean>): void {
    const entries = Object.entries(params).map(([k, v]) => [k, String(v)] as const);
    for (const [key, value] of entries) {
      validateParam(key, value, this.client.limits);
      const prev = this.params.get(key);
      if (prev !== undefined && prev !== value) {
        throw new MlflowError({
          errorCode: 'INVALID_PARAMETER_VALUE',
          endpoint: 'RunLogger.logParams',
          message: `param '${key}' was logged as '${prev}' and cannot change to '${value}' (MLflow params are write-once)`,
        });
      }
    }
    for (const [key, value] of entries) {
      if (this.params.get(key) === value) continue;
      this.params.set(key, value);
      this.push({ id: this.nextId++, kind: 'param', key, value });
    }
  }

  setTags(tags: Record<string, string>): void {
    for (const [key, value] of Object.entries(tags)) validateTag(key, value, this.client.limits);
    for (const [key, value] of Object.entries(tags)) {
      this.push({ id: this.nextId++, kind: 'tag', key, value });
    }
  }

  private push(item: Item): void {
    if (this.closed) {
      throw new MlflowError({ errorCode: 'INVALID_ARGUMENT', endpoint: 'RunLogger', message: 'the logger is closed' });
    }
    this.queue.push(item);
    this.s.enqueued++;
    if (this.queue.length >= this.opts.eagerBatchSize && this.pumping === undefined) setImmediate(() => this.kick());
  }

  // ---------------------------------------------------------------- flushing

  stats(): RunLoggerStats {
    return { ...this.s, pending: this.queue.length, spooled: this.spool.spooled };
  }

  /** Starts the flusher if idle, or cuts a backoff wait short. */
  private kick(): void {
    if (this.stopped) return;
    if (this.pumping === undefined) {
      if (this.queue.length === 0) return;
      this.pumping = this.pump().finally(() => {
        this.pumping = undefined;
        if (this.queue.length > 0 && this.waiters.length > 0) this.kick();
      });
    }
  }

  private async pump(): Promise<void> {
    while (this.queue.length > 0 && !this.stopped) {
      let sending = false;
      try {
        if (this.uncertain.size > 0) await this.readBack();
        const n = this.takeBatch();
        if (n === 0) continue;
        const batch = this.queue.slice(0, n);
        sending = true;
        await this.send(batch);
        this.ack(n);
        this.failures = 0;
      } catch (e) {
        const err =
          e instanceof MlflowError
            ? e
            : new MlflowError({ errorCode: 'INTERNAL', endpoint: 'RunLogger', message: String(e), cause: e });
        this.s.failedRequests++;
        // Only a request the server rejected as malformed is dropped. Everything else (outage, 5xx, and also bad
        // credentials or a missing run, which a person can fix) is kept, spooled and retried.
        const rejected = sending && err.status === 400;
        if (rejected) {
          // A bad request will not get better: drop the batch it belongs to and say so.
          const n = this.takeBatch();
          this.onError?.(err, { transient: false, dropped: n });
          this.s.droppedOnError += n;
          this.ack(n);
          continue;
        }
        this.onError?.(err, { transient: true, dropped: 0 });
        await this.spool.writePending(this.queue);
        const delay = Math.min(this.opts.maxBackoffMs, this.opts.backoffMs * 2 ** this.failures++);
        await this.sleep(delay * (0.75 + Math.random() * 0.5));
      }
    }
    if (this.spool.isActive) await this.spool.retire(() => this.queue.length === 0);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /**
   * How many queue items the next request takes: a run of metrics, or a run of params and tags (kept apart so that a
   * rejected param, e.g. a changed value, cannot take metric points down with it), within the API's limits.
   */
  private takeBatch(): number {
    const L = this.client.limits;
    const first = this.queue[0];
    if (first === undefined) return 0;
    const metrics = first.kind === 'metric';
    let bytes = 512;
    let nm = 0;
    let np = 0;
    let nt = 0;
    let i = 0;
    for (; i < this.queue.length; i++) {
      const it = this.queue[i] as Item;
      if ((it.kind === 'metric') !== metrics) break;
      // Metric points: a generous bound on `{"key":..,"value":..,"timestamp":..,"step":..},`; params and tags: exact.
      const b =
        it.kind === 'metric'
          ? 96 + Buffer.byteLength(it.key)
          : Buffer.byteLength(JSON.stringify({ key: it.key, value: it.value })) + 1;
      if (bytes + b > L.maxBytes || nm + np + nt >= L.maxItems) break;
      if (it.kind === 'metric' && nm >= L.maxMetrics) break;
      if (it.kind === 'param' && np >= L.maxParams) break;
      if (it.kind === 'tag' && nt >= L.maxTags) break;
      bytes += b;
      if (it.kind === 'metric') nm++;
      else if (it.kind === 'param') np++;
      else nt++;
    }
    return i;
  }

  private async send(batch: Item[]): Promise<void> {
    const metrics: MetricPoint[] = [];
    const params: KeyValue[] = [];
    const tags: KeyValue[] = [];
    for (const it of batch) {
      if (it.kind === 'metric') metrics.push({ key: it.key, value: it.value, step: it.step, timestamp: it.timestamp });
      else (it.kind === 'param' ? params : tags).push({ key: it.key, value: it.value });
    }
    this.s.requests++;
    try {
      await this.client.sendBatch(this.runId, { metrics, params, tags }, 'never');
    } catch (err) {
      if (err instanceof MlflowError && err.maybeApplied) for (const m of metrics) this.uncertain.add(m.key);
      throw err;
    }
  }

  /** Drops from the queue every point of an uncertain key that the server already has (same key and step). */
  private async readBack(): Promise<void> {
    for (const key of [...this.uncertain]) {
      const history = await this.client.getMetricHistory(this.runId, key, { retry: false });
      const onServer = new Set(history.map((m) => m.step));
      const keep: Item[] = [];
      const delivered: number[] = [];
      for (const it of this.queue) {
        if (it.kind === 'metric' && it.key === key && onServer.has(it.step)) delivered.push(it.id);
        else keep.push(it);
      }
      if (delivered.length > 0) {
        this.queue = keep;
        this.s.foundOnServer += delivered.length;
        this.s.delivered += delivered.length;
        this.spool.ack(delivered);
        this.settleWaiters();
      }
      this.uncertain.delete(key);
    }
  }

  private ack(n: number): void {
    const done = this.queue.splice(0, n);
    this.s.delivered += n;
    this.spool.ack(done.map((d) => d.id));
    this.settleWaiters();
  }

  private settleWaiters(): void {
    const oldest = this.queue[0]?.id ?? Infinity;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i] as (typeof this.waiters)[number];
      if (w.upTo < oldest) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /**
   * Resolves true once everything logged before the call is on the server, false if `timeoutMs` passed first (what
   * is left stays queued and spooled, and keeps being retried).
   */
  async flush(timeoutMs = Infinity): Promise<boolean> {
    const upTo = this.nextId - 1;
    if ((this.queue[0]?.id ?? Infinity) > upTo) return true;
    const waiter = { upTo, resolve: (): void => {} };
    const done = new Promise<void>((resolve) => {
      waiter.resolve = resolve;
      this.waiters.push(waiter);
    });
    this.kick();
    this.wake?.();
    if (timeoutMs === Infinity) {
      await done;
      return true;
    }
    let t: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      t = setTimeout(() => resolve(false), timeoutMs);
    });
    const ok = await Promise.race([done.then(() => true as const), timedOut]);
    clearTimeout(t);
    if (!ok) this.waiters.splice(this.waiters.indexOf(waiter), 1);
    return ok;
  }

  /**
   * Flushes (waiting at most `timeoutMs`, default 30 s), stops the flusher and removes exit handlers. Anything not
   * delivered by then is left in the spool file for the next logger of this run.
   */
  async close(timeoutMs = 30_000): Promise<RunLoggerStats & { complete: boolean }> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const complete = await this.flush(timeoutMs);
    this.closed = true;
    this.stopped = true;
    this.wake?.();
    this.removeExitHandlers();
    if (!complete) {
      // The flusher may still be waiting on a request; what it delivers later is read back by the next logger.
      this.spool.compactSync(this.queue);
    } else {
      await this.pumping;
    }
    return { ...this.stats(), complete };
  }

  // ---------------------------------------------------------------- spool

  /** Loads what a previous logger of this run left undelivered; its metric keys start uncertain. */
  private replaySpool(): void {
    const sorted = this.spool.readLeftover();
    if (sorted.length === 0) {
      this.spool.removeSync(); // nothing left undelivered (or no file at all)
      return;
    }
    for (const it of sorted) {
      const id = this.nextId++;
      if (it.kind === 'metric') {
        let seen = this.steps.get(it.key);
        if (seen === undefined) this.steps.set(it.key, (seen = new Set()));
        if (seen.has(it.step)) continue;
        seen.add(it.step);
        this.uncertain.add(it.key);
      } else if (it.kind === 'param') {
        this.params.set(it.key, it.value);
      }
      this.queue.push({ ...it, id });
    }
    this.s.enqueued += this.queue.length;
    // Start a fresh, compact spool holding exactly what was recovered.
    this.spool.compactSync(this.queue);
    if (this.queue.length === 0) this.spool.removeSync();
  }

  // ---------------------------------------------------------------- process exit

  private installExitFlush(): void {
    let flushing = false;
    const beforeExit = (): void => {
      // The event loop ran dry with points still queued: give them one bounded flush (this keeps the loop alive).
      if (flushing || this.closed || this.queue.length === 0) return;
      flushing = true;
      void this.close(10_000);
    };
    const onExit = (): void => {
      if (this.queue.length > 0) this.spool.compactSync(this.queue);
    };
    this.addHandler('beforeExit', beforeExit);
    this.addHandler('exit', onExit);
  }

  /**
   * On SIGTERM/SIGINT: close (flushing for at most `timeoutMs`, spooling the rest), then, if no other handler is
   * listening, raise the signal again so the process ends as it would have without us.
   */
  installSignalHandlers(timeoutMs = 10_000, signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): void {
    for (const sig of signals) {
      const fn = (): void => {
        if (this.closed) return;
        void this.close(timeoutMs).then(() => {
          if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
        });
      };
      this.addHandler(sig, fn);
    }
  }

  private addHandler(event: string, fn: () => void): void {
    this.handlers.push({ event, fn });
    process.on(event, fn);
  }

  private removeExitHandlers(): void {
    for (const h of this.handlers) process.off(h.event, h.fn);
    this.handlers = [];
  }
}
