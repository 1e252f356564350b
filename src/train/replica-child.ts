// One data-parallel replica as a process: `node dist/src/train/replica-child.js [config.json]`, or with the JSON
// config in DCIGN_REPLICA_CONFIG. It validates its config, binds its all-reduce socket, joins the rendezvous, builds
// the ring reducer and runs the trainer (or the synthetic all-reduce workload). It speaks the protocol of
// ./replica-protocol.ts. It stops cleanly (sockets closed, peers told) on SIGTERM/SIGINT, when its parent dies, and,
// when started with DCIGN_WATCH_STDIN=1 or a supervisor rendezvous, when its stdin closes: so a supervisor that dies
// takes its replicas with it.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

import { ConfigError } from '../model/config.js';
import { parseCompression } from '../parallel/compression.js';
import { loadCurveKeys } from '../parallel/curve.js';
import { runExercise } from '../parallel/exercise.js';
import { StaticRendezvous } from '../parallel/rendezvous.js';
import type { RingReducer } from '../parallel/ring.js';
import { RingError } from '../parallel/ring-error.js';
import { joinRing } from '../parallel/ring-join.js';
import type { Rendezvous, RendezvousResult } from '../parallel/types.js';
import { resolveTrainConfig, type TrainConfigInput } from './config.js';
import type { GradientReducer } from './gradient-reducer.js';
import { noopExchange } from './noop-exchange.js';
import {
  REPLICA_EXIT,
  encodeMessage,
  parseSupervisorMessage,
  type ReplicaConfig,
  type ReplicaMessage,
  type ReplicaOutput,
  type SupervisorMessage,
} from './replica-protocol.js';

function emit(msg: ReplicaMessage): void {
  process.stdout.write(encodeMessage(msg));
}

/** Reads and checks the configuration; every problem is a ConfigError naming where the config came from. */
export function readReplicaConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ReplicaConfig {
  const path = argv[2];
  let text: string;
  let where: string;
  if (path) {
    where = path;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError('replica config', `cannot be read from ${path}: ${(err as Error).message}`);
    }
  } else if (env.DCIGN_REPLICA_CONFIG) {
    where = 'DCIGN_REPLICA_CONFIG';
    text = env.DCIGN_REPLICA_CONFIG;
  } else {
    throw new ConfigError('replica config', 'is missing: pass a JSON file path or set DCIGN_REPLICA_CONFIG');
  }
  let cfg: ReplicaConfig;
  try {
    cfg = JSON.parse(text) as ReplicaConfig;
  } catch (err) {
    throw new ConfigError('replica config', `in ${where} is not JSON: ${(err as Error).message}`);
  }
  const kind = (cfg.rendezvous as { kind?: unknown } | undefined)?.kind;
  if (kind !== 'static' && kind !== 'supervisor') {
    throw new ConfigError('rendezvous.kind', `in ${where} must be 'static' or 'supervisor', got ${JSON.stringify(kind)}`);
  }
  if (!cfg.train === !cfg.exercise) throw new ConfigError('train', `in ${where}: give exactly one of train, exercise`);
  if (cfg.exchange !== undefined && cfg.exchange !== 'ring' && cfg.exchange !== 'noop') {
    throw new ConfigError('exchange', `in ${where} must be 'ring' (average gradients) or 'noop' (timing only), got ${JSON.stringify(cfg.exchange)}`);
  }
  // The trainer's own validation, before any socket is bound: a bad value fails here, named, and is never retried.
  if (cfg.train) return { ...cfg, train: resolveTrainConfig(cfg.train as TrainConfigInput) };
  return cfg;
}

/**
 * The supervisor as the rendezvous store: announce the bound endpoint on stdout, read the group from stdin. The
 * supervisor gathers every replica's endpoint (through Temporal, or from its own children) before it answers.
 */
class SupervisorRendezvous implements Rendezvous {
  constructor(private readonly answer: Promise<RendezvousResult>) {}

  async join(endpoint: string): Promise<RendezvousResult> {
    emit({ type: 'bound', endpoint });
    return this.answer;
  }
}

/** Lines from the supervisor on stdin: the first is the rendezvous answer; the end of stdin means it is gone. */
function readSupervisor(onGone: (why: string) => void, onPause: () => void): Promise<RendezvousResult> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: process.stdin });
    let answered = false;
    lines.on('line', (line) => {
      if (line.trim() === '') return;
      let m: SupervisorMessage;
      try {
        m = parseSupervisorMessage(line);
      } catch (err) {
        if (!answered) reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (m.type === 'pause') onPause();
      else if (!answered) {
        answered = true;
        resolve(m.result);
      }
    });
    lines.on('close', () => {
      if (!answered) reject(new Error('the supervisor closed stdin before the rendezvous answer'));
      onGone('stdin closed (the supervisor is gone)');
    });
  });
}

/** Watches the parent process; calls stop when it goes away. */
function watchParent(stop: (why: string) => void): () => void {
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
  return () => clearInterval(timer);
}

async function main(): Promise<number> {
  let cfg: ReplicaConfig;
  try {
    cfg = readReplicaConfig(process.argv, process.env);
  } catch (err) {
    const kind = err instanceof ConfigError ? 'config' : 'failed';
    emit({ type: 'error', kind, message: (err as Error).message });
    return kind === 'config' ? REPLICA_EXIT.config : REPLICA_EXIT.failed;
  }
  const controller = new AbortController();
  let reducer: RingReducer | undefined;
  let stopping: string | undefined;
  let lastStep = 0;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = why;
    controller.abort(new Error(why));
    // a rank blocked in a collective would otherwise wait for its peers' timeout
    reducer?.abort(why);
    // last resort if the trainer does not come back
    setTimeout(() => {
      emit({ type: 'error', kind: 'stopped', message: `${why}; did not stop within 10 s, exiting`, step: lastStep });
      process.exit(REPLICA_EXIT.stopped);
    }, 10_000).unref();
  };
  process.on('SIGTERM', () => stop('stopped by SIGTERM'));
  process.on('SIGINT', () => stop('stopped by SIGINT'));
  const unwatch = watchParent(stop);
  const supervised = cfg.rendezvous.kind === 'supervisor';
  let answer: Promise<RendezvousResult> | undefined;
  if (supervised) {
    // A pause ends the training loop after the current step (with a checkpoint) but, unlike stop, leaves the ring
    // alone: rank 0 may be waiting on its peers to finish that very step.
    answer = readSupervisor(stop, () => controller.abort(new Error('paused by the supervisor')));
    answer.catch(() => undefined); // read through joinRing
  } else if (process.env.DCIGN_WATCH_STDIN === '1') {
    process.stdin.on('end', () => stop('stdin closed (the launcher is gone)'));
    process.stdin.on('error', () => stop('stdin failed (the launcher is gone)'));
    process.stdin.resume();
  }
  // TensorFlow loads (about a second) while the group gathers, not after: the trainer is imported only for a train
  // config, so the exercise workload still starts without TensorFlow.
  const trainer = cfg.train ? import('./run.js') : undefined;
  trainer?.catch(() => undefined); // awaited below; a failure is reported there
  try {
    let rendezvous: Rendezvous;
    let port: number | undefined;
    if (cfg.rendezvous.kind === 'static') {
      const r = new StaticRendezvous(cfg.rendezvous);
      rendezvous = r;
      port = r.ownPort;
    } else {
      rendezvous = new SupervisorRendezvous(answer as Promise<RendezvousResult>);
    }
    const curve = loadCurveKeys(cfg.curve ?? {}, process.env);
    reducer = await joinRing(rendezvous, {
      ...(cfg.bind === undefined ? {} : { bindHost: cfg.bind }),
      ...(cfg.advertise === undefined ? {} : { advertiseHost: cfg.advertise }),
      ...(port === undefined ? {} : { port }),
      ...(cfg.timeoutMs === undefined ? {} : { timeoutMs: cfg.timeoutMs }),
      ...(cfg.bucketBytes === undefined ? {} : { bucketBytes: cfg.bucketBytes }),
      compression: parseCompression(cfg.train ? cfg.train.compression : cfg.compression, cfg.train ? 'parallel.compression' : 'compression'),
      ...(curve === undefined ? {} : { curve }),
    });
    if (stopping) throw new Error(stopping);
    emit({ type: 'ready', rank: reducer.rank, worldSize: reducer.worldSize, endpoint: reducer.endpoint });
    const rank = reducer.rank;
    const logs = cfg.logAllRanks || rank === 0;
    const log = (m: Extract<ReplicaMessage, { type: 'log' | 'checkpoint' }>): void => {
      if (logs) emit(cfg.logAllRanks ? { ...m, rank } : m);
    };
    const ring = reducer;
    let output: ReplicaOutput;
    if (cfg.exercise) {
      const exercise = await runExercise(reducer, cfg.exercise, controller.signal, (step, scalars) => {
        lastStep = step;
        log({ type: 'log', step, scalars });
      });
      output = { kind: 'exercise', exercise };
    } else {
      const { runTraining } = await (trainer as Promise<typeof import('./run.js')>);
      const averaged: GradientReducer = cfg.exchange === 'noop' ? noopExchange(ring) : ring; // the ring satisfies the trainer's interface
      const train = await runTraining(cfg.train as TrainConfigInput, {
        // alone, train exactly as without data parallelism
        ...(ring.worldSize > 1 ? { reducer: averaged } : {}),
        signal: controller.signal,
        // the exchange counters so far, so a reader can take the same window as steps_per_s
        onLog: (step, scalars) => {
          lastStep = step;
          log({ type: 'log', step, scalars, exchange: ring.stats() });
        },
        onCheckpoint: (step, path) => {
          lastStep = Math.max(lastStep, step);
          log({ type: 'checkpoint', step, path });
        },
      });
      output = { kind: 'train', train };
    }
    if (stopping) throw new Error(stopping);
    await reducer.close();
    emit({ type: 'done', output, exchange: reducer.stats() });
    return REPLICA_EXIT.ok;
  } catch (err) {
    const e = err as Error;
    if (err instanceof ConfigError) {
      emit({ type: 'error', kind: 'config', message: e.message, step: lastStep });
    } else if (err instanceof RingError) {
      emit({
        type: 'error',
        kind: stopping ? 'stopped' : 'ring',
        message: e.message,
        code: err.code,
        rank: err.rank,
        ...(err.peerRank === undefined ? {} : { peerRank: err.peerRank }),
        step: err.step ?? lastStep,
      });
    } else {
      emit({ type: 'error', kind: stopping ? 'stopped' : 'failed', message: e.message, step: lastStep });
    }
    await reducer?.close().catch(() => undefined);
    if (err instanceof ConfigError) return REPLICA_EXIT.config;
    return stopping ? REPLICA_EXIT.stopped : REPLICA_EXIT.failed;
  } finally {
    unwatch();
    if (!supervised && process.env.DCIGN_WATCH_STDIN === '1') process.stdin.destroy();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      emit({ type: 'error', kind: 'failed', message: (err as Error).message });
      process.exit(REPLICA_EXIT.failed);
    },
  );
}
