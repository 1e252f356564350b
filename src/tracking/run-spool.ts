// The run logger's spool: an append-only JSONL file per run that holds queued items (by id) and, line by line, the
// acknowledgements of those delivered since. It is written from the first failed request on, rewritten compactly
// when a logger closes with points undelivered (or the process exits), removed once everything in it was delivered,
// and read back by the next logger of the same run after a crash.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fromWireDouble, toWireDouble } from './batch.js';
import { MlflowError } from './errors.js';

/** One queued point, param or tag; ids grow in enqueue order. */
export type Item =
  | { id: number; kind: 'metric'; key: string; value: number; step: number; timestamp: number }
  | { id: number; kind: 'param' | 'tag'; key: string; value: string };

type SpoolLine =
  | { id: number; kind: 'metric'; key: string; value: number | string; step: number; timestamp: number }
  | { id: number; kind: 'param' | 'tag'; key: string; value: string }
  | { ack: number[] };

export function defaultSpoolDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DCIGN_SPOOL_DIR ?? path.join(os.homedir(), '.cache', 'dcign', 'spool');
}

/** The spool file of one run: `<dir>/<runId>.jsonl`, the run id made safe for a file name. */
export function spoolFileOf(dir: string, runId: string): string {
  return path.join(dir, `${runId.replace(/[^A-Za-z0-9_-]/g, '_')}.jsonl`);
}

function lineOf(it: Item): string {
  const l: SpoolLine = it.kind === 'metric' ? { ...it, value: toWireDouble(it.value) } : it;
  return JSON.stringify(l) + '\n';
}

export class RunSpool {
  /** Active from the first failure (or from a recovered spool) until everything in it was delivered. */
  private active = false;
  private spooledUpTo = 0;
  private chain: Promise<void> = Promise.resolve();
  /** Items in the file that are not acknowledged yet. */
  private readonly ids = new Set<number>();
  /** Items written on failures so far (a compaction rewrites, it adds none). */
  private written = 0;

  constructor(
    readonly file: string,
    private readonly onError: ((err: MlflowError, info: { transient: boolean; dropped: number }) => void) | undefined,
  ) {}

  get isActive(): boolean {
    return this.active;
  }

  get spooled(): number {
    return this.written;
  }

  /** Writes every queued item not yet in the file (called on failures). */
  async writePending(queue: readonly Item[]): Promise<void> {
    if (!this.active) {
      await fsp.mkdir(path.dirname(this.file), { recursive: true });
      this.active = true;
    }
    let text = '';
    for (const it of queue) {
      if (it.id <= this.spooledUpTo) continue;
      text += lineOf(it);
      this.ids.add(it.id);
      this.written++;
    }
    const last = queue[queue.length - 1];
    if (last) this.spooledUpTo = Math.max(this.spooledUpTo, last.id);
    if (text !== '') this.append(text);
    await this.chain;
  }

  /** Records that these items were delivered. */
  ack(ids: number[]): void {
    if (!this.active) return;
    const acked = ids.filter((id) => this.ids.delete(id));
    if (acked.length > 0) this.append(JSON.stringify({ ack: acked }) + '\n');
  }

  /** Everything spooled is delivered (and nothing is queued once pending appends are written): remove the file. */
  async retire(queueEmpty: () => boolean): Promise<void> {
    await this.chain;
    if (!queueEmpty() || this.ids.size > 0) return;
    await fsp.rm(this.file, { force: true });
    this.active = false;
  }

  /** Rewrites the spool as exactly the undelivered items, synchronously (safe in an 'exit' handler). */
  compactSync(queue: readonly Item[]): void {
    if (queue.length === 0) {
      if (this.active && this.ids.size === 0) rmSync(this.file, { force: true });
      return;
    }
    mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp-${process.pid}`;
    writeFileSync(tmp, queue.map(lineOf).join(''));
    renameSync(tmp, this.file);
    this.active = true;
    for (const it of queue) this.ids.add(it.id);
    this.spooledUpTo = Math.max(this.spooledUpTo, queue[queue.length - 1]?.id ?? 0);
    // New appends (acks) must go to the new file: the old append chain may hold a handle on the replaced one.
    this.chain = Promise.resolve();
  }

  /** What a previous logger of this run left undelivered, in enqueue order (none without a file). */
  readLeftover(): Item[] {
    if (!existsSync(this.file)) return [];
    const items = new Map<number, Item>();
    for (const line of readFileSync(this.file, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      let l: SpoolLine;
      try {
        l = JSON.parse(line) as SpoolLine;
      } catch {
        continue; // a torn last line from a crash mid-write
      }
      if ('ack' in l) for (const id of l.ack) items.delete(id);
      else if (l.kind === 'metric') items.set(l.id, { ...l, value: fromWireDouble(l.value) });
      else items.set(l.id, l);
    }
    return [...items.values()].sort((a, b) => a.id - b.id);
  }

  removeSync(): void {
    rmSync(this.file, { force: true });
  }

  private append(text: string): void {
    const file = this.file;
    this.chain = this.chain
      .then(() => fsp.appendFile(file, text))
      .catch((err: unknown) => {
        this.onError?.(
          new MlflowError({
            errorCode: 'SPOOL_WRITE_FAILED',
            endpoint: file,
            cause: err,
            message: `cannot write the tracking spool file ${file}: ${String(err)}; points stay in memory only`,
          }),
          { transient: true, dropped: 0 },
        );
      });
  }
}
