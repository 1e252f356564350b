// One data-parallel replica as a process: `node dist/src/parallel/replica-child.js [config.json]`, or with the JSON
// config in DCIGN_REPLICA_CONFIG. It binds its all-reduce socket, joins the rendezvous, builds the ring reducer and
// runs the trainer (or, with `exercise`, a synthetic all-reduce workload that checks results: a smoke test for a
// cluster's links, used by the tests and bench/allreduce.ts). It speaks JSON lines on stdout:
//   {"type":"log","step":N,"scalars":{...}}   {"type":"checkpoint","step":N,"path":"..."}
//   {"type":"done","result":{...}}             {"type":"error","message":"...","code":"..."}
// It stops cleanly (sockets closed, peers told) on SIGTERM/SIGINT, when its parent dies, and, when started with
// DCIGN_WATCH_STDIN=1, when its stdin closes: so a supervisor that dies takes its replicas with it.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { crc32 } from 'node:zlib';

import type { TrainConfig } from '../train/config.js';
import { loadCurveKeys, type CurveKeySources } from './curve.js';
import { joinRing, RingError, type RingReducer } from './ring.js';
import { StaticRendezvous } from './rendezvous.js';
import type { GradientReducer, Rendezvous } from './types.js';

export type RendezvousConfig =
  | { readonly kind: 'static'; readonly endpoints: readonly string[]; readonly rank: number; readonly groupId: string; readonly generation?: number }
  | { readonly kind: 'temporal'; readonly [key: string]: unknown };

/** Synthetic all-reduce workload: every size is reduced `iterations` times after `warmup` untimed rounds. */
export interface ExerciseConfig {
  /** Buffer lengths in float32 elements. */
  readonly sizes: readonly number[];
  readonly iterations: number;
  readonly warmup?: number;
  /** Milliseconds to wait between iterations (lets a test kill a peer mid-run). */
  readonly pauseMs?: number;
  /** Synchronise the ranks with a one-float all-reduce before each timed iteration (default true). */
  readonly barrier?: boolean;
}

export interface ReplicaConfig {
  readonly train?: TrainConfig;
  readonly exercise?: ExerciseConfig;
  readonly rendezvous: RendezvousConfig;
  /** Interface to bind (default 127.0.0.1). */
  readonly bind?: string;
  /** Host other replicas reach this one at (default bind). */
  readonly advertise?: string;
  readonly timeoutMs?: number;
  readonly bucketBytes?: number;
  /** CURVE key files; DCIGN_CURVE_* variables are read too. */
  readonly curve?: CurveKeySources;
  /** Emit log lines from every rank, not only rank 0. */
  readonly logAllRanks?: boolean;
}

/** A line this process prints. */
export type ReplicaMessage =
  | { type: 'log'; step: number; scalars: Record<string, number>; rank?: number; exchange?: ReturnType<RingReducer['stats']> }
  | { type: 'checkpoint'; step: number; path: string; rank?: number }
  | { type: 'ready'; rank: number; worldSize: number; endpoint: string }
  | { type: 'done'; result: unknown; rank?: number; exchange?: ReturnType<RingReducer['stats']> }
  | { type: 'error'; message: string; code?: string; rank?: number; peerRank?: number; step?: number };

function emit(msg: ReplicaMessage): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

export function readReplicaConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ReplicaConfig {
  const path = argv[2];
  let text: string;
  let where: string;
  if (path) {
    where = path;
    text = readFileSync(path, 'utf8');
  } else if (env.DCIGN_REPLICA_CONFIG) {
    where = 'DCIGN_REPLICA_CONFIG';
    text = env.DCIGN_REPLICA_CONFIG;
  } else {
    throw new Error('no replica configuration: pass a JSON file path or set DCIGN_REPLICA_CONFIG');
  }
  let cfg: ReplicaConfig;
  try {
    cfg = JSON.parse(text) as ReplicaConfig;
  } catch (err) {
    throw new Error(`replica configuration in ${where} is not JSON: ${(err as Error).message}`);
  }
  if (!cfg.rendezvous || typeof cfg.rendezvous !== 'object') throw new Error(`replica configuration in ${where} has no rendezvous`);
  if (!cfg.train === !cfg.exercise) throw new Error(`replica configuration in ${where} needs exactly one of train, exercise`);
  return cfg;
}

function makeRendezvous(cfg: RendezvousConfig): { rendezvous: Rendezvous; port?: number } {
  if (cfg.kind === 'static') {
    const r = new StaticRendezvous(cfg);
    return { rendezvous: r, port: r.ownPort };
  }
  throw new Error(`rendezvous kind '${String(cfg.kind)}' is not available in replica-child yet (the Temporal rendezvous comes with the orchestration layer)`);
}

/** Deterministic test data: rank r's element i at iteration k; its mean over ranks is known in closed form. */
function exerciseValue(rank: number, i: number, k: number): number {
  return ((rank + 1) * ((i % 61) - 30) + k) / 64;
}

async function runExercise(reducer: GradientReducer, ex: ExerciseConfig, signal: AbortSignal, log: (m: ReplicaMessage) => void): Promise<unknown> {
  const R = reducer.worldSize;
  const results: { elements: number; iterations: number; seconds: number; maxErr: number; crc: number }[] = [];
  let step = 0;
  for (const n of ex.sizes) {
    const buf = new Float32Array(n);
    let seconds = 0;
    let maxErr = 0;
    let crc = 0;
    const warm = ex.warmup ?? 0;
    for (let k = 0; k < warm + ex.iterations; k++) {
      if (signal.aborted) throw new Error(String(signal.reason));
      for (let i = 0; i < n; i++) buf[i] = exerciseValue(reducer.rank, i, k);
      if (ex.barrier !== false) await reducer.allReduceMean(new Float32Array(1), step++);
      const t0 = process.hrtime.bigint();
      await reducer.allReduceMean(buf, step++);
      const dt = Number(process.hrtime.bigint() - t0) / 1e9;
      if (k >= warm) seconds += dt;
      if (k === warm + ex.iterations - 1 || k < 2) {
        for (let i = 0; i < n; i++) {
          const want = ((((R + 1) / 2) * ((i % 61) - 30)) + k) / 64;
          maxErr = Math.max(maxErr, Math.abs((buf[i] as number) - want));
        }
      }
      if (k === warm + ex.iterations - 1) crc = crc32(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
      log({ type: 'log', step, scalars: { elements: n, seconds: dt } });
      if (ex.pauseMs) await new Promise((r) => setTimeout(r, ex.pauseMs));
    }
    results.push({ elements: n, iterations: ex.iterations, seconds, maxErr, crc: crc >>> 0 });
  }
  return { rank: reducer.rank, worldSize: R, results };
}

/** Watches the parent process and (optionally) stdin; calls stop when either goes away. */
function watchParent(stop: (why: string) => void, env: NodeJS.ProcessEnv): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    let alive = process.ppid === parent;
    if (alive) {
      try {
        process.kill(parent, 0);
      } catch {
        alive = false;
      }
    }
    if (!alive) stop(`parent process ${parent} is gone`);
  }, 500);
  timer.unref();
  if (env.DCIGN_WATCH_STDIN === '1') {
    process.stdin.on('end', () => stop('stdin closed (the launcher is gone)'));
    process.stdin.on('error', () => stop('stdin failed (the launcher is gone)'));
    process.stdin.resume();
  }
  return () => {
    clearInterval(timer);
    process.stdin.pause();
    process.stdin.removeAllListeners('end');
    process.stdin.destroy();
  };
}

async function main(): Promise<number> {
  const cfg = readReplicaConfig(process.argv, process.env);
  const controller = new AbortController();
  let reducer: RingReducer | undefined;
  let stopping: string | undefined;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = why;
    controller.abort(new Error(why));
    // a rank blocked in a collective would otherwise wait for its peers' timeout
    reducer?.abort(why);
    // last resort if the trainer does not come back
    setTimeout(() => {
      emit({ type: 'error', message: `${why}; did not stop within 10 s, exiting`, code: 'stopped' });
      process.exit(1);
    }, 10_000).unref();
  };
  process.on('SIGTERM', () => stop('stopped by SIGTERM'));
  process.on('SIGINT', () => stop('stopped by SIGINT'));
  const unwatch = watchParent(stop, process.env);
  try {
    const { rendezvous, port } = makeRendezvous(cfg.rendezvous);
    const curve = loadCurveKeys(cfg.curve ?? {}, process.env);
    reducer = await joinRing(rendezvous, {
      ...(cfg.bind === undefined ? {} : { bindHost: cfg.bind }),
      ...(cfg.advertise === undefined ? {} : { advertiseHost: cfg.advertise }),
      ...(port === undefined ? {} : { port }),
      ...(cfg.timeoutMs === undefined ? {} : { timeoutMs: cfg.timeoutMs }),
      ...(cfg.bucketBytes === undefined ? {} : { bucketBytes: cfg.bucketBytes }),
      ...(curve === undefined ? {} : { curve }),
    });
    if (stopping) throw new Error(stopping);
    emit({ type: 'ready', rank: reducer.rank, worldSize: reducer.worldSize, endpoint: reducer.endpoint });
    const rank = reducer.rank;
    const logs = cfg.logAllRanks || rank === 0;
    const log = (m: ReplicaMessage): void => {
      if (logs) emit(cfg.logAllRanks ? { ...m, rank } : m);
    };
    let result: unknown;
    if (cfg.exercise) {
      result = await runExercise(reducer, cfg.exercise, controller.signal, log);
    } else {
      // loaded only here, so the exercise workload starts without TensorFlow
      const { runTraining } = await import('../train/run.js');
      const ring = reducer;
      result = await runTraining(cfg.train as TrainConfig, {
        // alone, train exactly as without data parallelism
        ...(reducer.worldSize > 1 ? { reducer } : {}),
        signal: controller.signal,
        // the exchange counters so far, so a reader can take the same window as steps_per_s
        onLog: (step, scalars) => log({ type: 'log', step, scalars, exchange: ring.stats() }),
        onCheckpoint: (step, path) => log({ type: 'checkpoint', step, path }),
      });
    }
    if (stopping) throw new Error(stopping);
    await reducer.close();
    emit({ type: 'done', result, exchange: reducer.stats() });
    return 0;
  } catch (err) {
    const e = err as Error;
    const extra =
      err instanceof RingError
        ? { code: err.code, rank: err.rank, ...(err.peerRank === undefined ? {} : { peerRank: err.peerRank }), ...(err.step === undefined ? {} : { step: err.step }) }
        : {};
    emit({ type: 'error', message: e.message, ...extra });
    await reducer?.close().catch(() => undefined);
    return stopping?.includes('SIGTERM') ? 143 : 1;
  } finally {
    unwatch();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      emit({ type: 'error', message: (err as Error).message });
      process.exit(1);
    },
  );
}
