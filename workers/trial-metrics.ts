// Rank 0's per-step losses on their way to the trial's MLflow run. Points are held until a checkpoint covers them:
// if the replica group dies, the restarted group retrains from its last checkpoint and logs those steps again, so
// holding back uncheckpointed points is what keeps every step in the final curve exactly once.
//
// A host can also die after a checkpoint was accepted but before the losses it released reached MLflow. So every
// checkpoint carries, in its own folder (CARRIED_LOSSES_FILE, stored in MLflow and covered by its manifest like its
// other files), each point up to its step that MLflow is not yet known to have. The group that resumes from it asks
// MLflow's metric history (the source of truth) which of those steps it holds and logs the others: none lost. And it
// never logs a (key, step) MLflow already holds, whether a recomputation gives the same value or a different one:
// MLflow cannot delete a point, so the first value logged for a step stays, and a differing recomputation is counted
// (tag dcign.recomputedDiffering) rather than logged beside it.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { faultPoint } from '../src/fault/point.js';
import { RunLogger, type MlflowClient } from '../src/tracking/index.js';

/** The losses a checkpoint carries (JSON: {format, points: [{step, scalars}]}). */
export const CARRIED_LOSSES_FILE = 'losses.json';
const CARRIED_FORMAT = 'dcign-carried-losses/1';

export interface StepScalars {
  readonly step: number;
  readonly scalars: Readonly<Record<string, number>>;
}

export class CheckpointGatedMetrics {
  private held: StepScalars[] = [];
  /** Released to the logger, not yet confirmed on the server: a checkpoint written now must carry them. */
  private unconfirmed: StepScalars[] = [];
  /** Steps per key MLflow already held when this group resumed (never logged again). */
  private readonly onServer = new Map<string, Map<number, number>>();
  private differing = 0;
  private readonly logger: RunLogger;

  constructor(
    private readonly client: MlflowClient,
    private readonly runId: string,
    spoolDir?: string,
  ) {
    this.logger = new RunLogger(client, runId, { ...(spoolDir ? { spoolDir } : {}), flushOnExit: true });
  }

  add(point: StepScalars): void {
    this.held.push(point);
  }

  /** Every point up to `step` that MLflow is not known to have: what a checkpoint at `step` carries. */
  carried(step: number): StepScalars[] {
    return [...this.unconfirmed, ...this.held].filter((p) => p.step <= step);
  }

  /** Writes carried(step) into a checkpoint's local folder, before it is uploaded. */
  writeCarried(dir: string, step: number): void {
    writeFileSync(path.join(dir, CARRIED_LOSSES_FILE), `${JSON.stringify({ format: CARRIED_FORMAT, points: this.carried(step) })}\n`);
  }

  /**
   * Resuming from the checkpoint in `dir`: reads which steps MLflow holds for every key the checkpoint carries (and
   * `keys`, the run's other metrics), logs the carried points it lacks, and remembers the rest so that this group
   * never logs them again. Returns how many carried points were missing from MLflow.
   */
  async resumeFrom(dir: string, keys: readonly string[] = []): Promise<number> {
    const carried = readCarried(dir);
    const all = new Set([...keys, ...carried.flatMap((p) => Object.keys(finite(p.scalars)))]);
    for (const key of all) {
      const steps = new Map<number, number>();
      for (const m of await this.client.getMetricHistory(this.runId, key)) steps.set(m.step, m.value);
      this.onServer.set(key, steps);
    }
    const before = this.logger.stats().enqueued;
    for (const p of carried) this.log(p);
    const missing = this.logger.stats().enqueued - before;
    if (missing > 0) void this.logger.flush().catch(() => undefined);
    return missing;
  }

  /** A checkpoint at `step` makes every point up to it final. */
  checkpointed(step: number): void {
    const [final, rest] = partition(this.held, (p) => p.step <= step);
    this.held = rest;
    if (final.length === 0) return;
    faultPoint('losses-released', step); // tests: a host that dies right after its checkpoint was accepted
    for (const p of final) this.log(p);
    this.unconfirmed.push(...final);
    const through = Math.max(...final.map((p) => p.step));
    // released losses leave at once rather than at the next interval; once on the server, checkpoints stop carrying
    // them
    void this.logger
      .flush()
      .then(() => {
        this.unconfirmed = this.unconfirmed.filter((p) => p.step > through);
      })
      .catch(() => undefined);
  }

  /** Training finished: everything held is final. Failed or cancelled: drop what no checkpoint covers. */
  async close(finished: boolean): Promise<void> {
    if (finished) this.checkpointed(Number.POSITIVE_INFINITY);
    this.held = [];
    await this.logger.close();
    if (this.differing > 0) {
      await this.client.setTags(this.runId, { 'dcign.recomputedDiffering': String(this.differing) }).catch(() => undefined);
    }
  }

  private log(p: StepScalars): void {
    const fresh: Record<string, number> = {};
    for (const [key, value] of Object.entries(finite(p.scalars))) {
      const known = this.onServer.get(key)?.get(p.step);
      if (known === undefined) {
        fresh[key] = value;
        this.onServer.get(key)?.set(p.step, value); // a later recomputation is compared with this one
      } else if (Math.fround(known) !== Math.fround(value)) this.differing++;
    }
    if (Object.keys(fresh).length > 0) this.logger.logMetrics(fresh, p.step);
  }
}

/** The points a checkpoint folder carries; none for a checkpoint written before this file existed. */
export function readCarried(dir: string): StepScalars[] {
  const file = path.join(dir, CARRIED_LOSSES_FILE);
  if (!existsSync(file)) return [];
  const j = JSON.parse(readFileSync(file, 'utf8')) as { format?: unknown; points?: unknown };
  if (j.format !== CARRIED_FORMAT || !Array.isArray(j.points)) {
    throw new Error(`${file} is not a ${CARRIED_FORMAT} file; delete it to resume without the losses it carried`);
  }
  return j.points as StepScalars[];
}

function finite(scalars: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(scalars).filter(([, v]) => Number.isFinite(v)));
}

function partition<T>(items: readonly T[], pred: (t: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const i of items) (pred(i) ? yes : no).push(i);
  return [yes, no];
}
