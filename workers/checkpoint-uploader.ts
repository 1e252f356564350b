// Rank 0's checkpoints on their way to the trial's MLflow run, in the background of the trainReplica activity: the
// training child never waits for an upload. One upload at a time; a checkpoint superseded while it waits (or while a
// failed attempt backs off) is skipped, since only the newest matters for resuming, unless its step is protected: a
// rung's checkpoint is what the trial evaluates for that rung, so it is stored in turn (skipping it had the rung judged
// on a newer, unprotected checkpoint that retention could delete before its evaluation fetched it). Transient failures (the server
// down, 5xx, timeouts) are retried with exponential backoff for as long as the activity runs; a permanent one (no
// artifact proxy, refused credentials) is reported through onFatal, since no retry can fix it.
//
// Once a checkpoint is stored whole, onDurable hears of it (the activity tells the trial workflow, then releases the
// losses it covers); only when the workflow knows it does retention delete older ones, from MLflow and from this
// worker's local copies, so the workflow's resume point is never among the deleted.
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';

import type { CheckpointRef } from '../src/contract/index.js';
import { isMlflowError, type CheckpointStore } from '../src/tracking/index.js';

export interface CheckpointUploaderOptions {
  readonly store: CheckpointStore;
  /** Newest durable checkpoints to keep (spec `checkpoints.keep`). */
  readonly keep: number;
  /** Steps whose checkpoints are kept besides (early stopping's rungs, which the trial evaluates beside training). */
  readonly protect?: readonly number[];
  /** The trial's local checkpoint folder (<runDir>/checkpoints): a cache on this host, pruned like the store. */
  readonly cacheDir: string;
  /** A checkpoint is stored whole; resolves true once the trial workflow knows it (then retention may run). */
  readonly onDurable: (ref: CheckpointRef) => Promise<boolean>;
  /** An upload failed in a way no retry fixes. */
  readonly onFatal: (err: Error) => void;
  readonly warn: (message: string) => void;
  /** Backoff between attempts: doubles from initialMs up to maxMs (defaults 1 s and 60 s). */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
}

interface Written {
  readonly step: number;
  readonly path: string;
}

export class CheckpointUploader {
  /** The newest checkpoint stored whole. */
  durable: CheckpointRef | undefined;
  /** Handed over, not yet stored, in step order: protected steps, then at most one newer unprotected one. */
  private waiting: Written[] = [];
  /** Local folders of every checkpoint handed over, by step: pruned once retention has dropped their step. */
  private readonly local = new Map<number, string>();
  private loop: Promise<void> | undefined;
  private stopped = false;
  private fatal: Error | undefined;
  private interrupt: (() => void) | undefined;

  constructor(private readonly o: CheckpointUploaderOptions) {}

  /** A checkpoint the replica has written (its folder complete on local disk). */
  add(c: Written): void {
    // A step handed over before (the final checkpoint is also named in the replica's result) is stored once.
    if (this.stopped || this.fatal || this.local.has(c.step)) return;
    this.local.set(c.step, c.path);
    if (this.waiting.length > 0 && c.step < (this.waiting.at(-1) as Written).step) return; // older than one waiting
    this.waiting = [...this.waiting.filter((w) => this.isProtected(w.step)), c];
    this.kick();
  }

  /** Resolves once everything handed over is stored (end of training); throws the permanent failure if one came. */
  async drain(): Promise<void> {
    while (this.loop) await this.loop;
    if (this.fatal) throw this.fatal;
  }

  /** No further attempts; resolves once the request in flight has settled, so nothing lands after the activity ends. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.waiting = [];
    this.interrupt?.();
    while (this.loop) await this.loop;
  }

  private kick(): void {
    if (this.loop) return;
    this.loop = this.run().finally(() => {
      this.loop = undefined;
      if (this.waiting.length > 0 && !this.stopped && !this.fatal) this.kick();
    });
  }

  private async run(): Promise<void> {
    while (this.waiting.length > 0 && !this.stopped && !this.fatal) {
      const c = this.waiting.shift() as Written;
      const artifactPath = await this.uploadWithRetry(c);
      if (artifactPath === undefined) continue; // superseded, skipped or stopped
      const ref: CheckpointRef = { step: c.step, uri: this.o.store.uri(artifactPath) };
      this.durable = ref;
      if (await this.o.onDurable(ref)) await this.prune(c.step);
    }
  }

  private async uploadWithRetry(c: Written): Promise<string | undefined> {
    const backoff = this.o.backoff ?? { initialMs: 1000, maxMs: 60_000 };
    for (let attempt = 0; ; attempt++) {
      if (this.stopped) return undefined;
      try {
        return await this.o.store.upload(c.path, c.step);
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        if (isMlflowError(e) && !e.transient) {
          this.fatal = new Error(`cannot store checkpoint step ${c.step} in MLflow run ${this.o.store.runId}: ${e.message}`);
          this.o.onFatal(this.fatal);
          return undefined;
        }
        if (!isMlflowError(e)) {
          // A local problem (the folder vanished): this checkpoint cannot be stored; a later one will be.
          this.o.warn(`checkpoint step ${c.step} (${c.path}) is not stored in MLflow: ${e.message}`);
          return undefined;
        }
        const wait = Math.min(backoff.maxMs, backoff.initialMs * 2 ** attempt);
        this.o.warn(`storing checkpoint step ${c.step} in MLflow failed (attempt ${attempt + 1}), retrying in ${Math.round(wait / 1000)} s: ${e.message}`);
        await this.sleep(wait);
        if (!this.isProtected(c.step) && this.waiting.some((w) => w.step > c.step)) return undefined; // a newer one waits: upload that instead
      }
    }
  }

  private isProtected(step: number): boolean {
    return this.o.protect?.includes(step) ?? false;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.interrupt = done;
    });
  }

  /** Retention in MLflow, then the same on local disk: local copies older than the oldest kept step go. */
  private async prune(current: number): Promise<void> {
    let kept: number[];
    try {
      kept = (await this.o.store.retain(this.o.keep, current, this.o.protect)).kept;
    } catch (err) {
      this.o.warn(`deleting old checkpoints of MLflow run ${this.o.store.runId} failed (tried again after the next checkpoint): ${(err as Error).message}`);
      return;
    }
    if (kept.length === 0) return; // nothing complete (someone else deleted them): keep every local copy
    // The oldest of the newest K (`current` is always one): protected steps below it stay, newer local copies wait.
    const oldest = Math.min(current, ...kept.filter((s) => !(this.o.protect ?? []).includes(s)));
    const dropped = (step: number): boolean => step < oldest && !kept.includes(step);
    const drop = new Set<string>();
    for (const [step, dir] of this.local) {
      if (!dropped(step)) continue;
      drop.add(dir);
      this.local.delete(step);
    }
    try {
      for (const e of await readdir(this.o.cacheDir, { withFileTypes: true })) {
        const m = /^step-(\d+)$/.exec(e.name);
        if (e.isDirectory() && m && dropped(Number(m[1]))) drop.add(path.join(this.o.cacheDir, e.name));
      }
    } catch {
      // no local checkpoint folder (a replica that keeps its checkpoints elsewhere)
    }
    for (const dir of drop) await rm(dir, { recursive: true, force: true });
  }
}
