// Ring all-reduce bandwidth on loopback, next to raw loopback TCP measured in the same run (the ceiling here).
//
// For each R in {2, 3, 4}, R replica processes (replica-child.js, synthetic workload) all-reduce buffers of 1, 4, 16
// and 64 MB; ranks are synchronised by a one-float all-reduce before each timed round, and a round's time is the
// slowest rank's. Bus bandwidth = algorithm bandwidth (bytes / time) x 2(R-1)/R: the bytes each rank actually sends
// per second, comparable across R and with one TCP stream (nccl-tests' definition).
// Raw: one Node.js net socket, one direction, 1 MiB writes, sender and receiver in separate processes. For context
// also raw bidirectional: two processes each sending to the other at once (what a ring of R = 2 does: both ranks
// send at the same time, so the kernel copies twice the bytes), reported per direction; on a machine with few cores
// that, not the one-direction figure, is the ceiling of the ring. And the same with ZeroMQ PUSH/PULL sockets and
// 512 KiB frames (a 1 MiB bucket's chunk at R = 2), no checks and no arithmetic: what the transport itself moves.
// Then the standard model (Higgins et al. 2017, 64x64, global batch 64) trains for a few steps with R = 1 and R = 2
// replicas, and the time each R = 2 replica spends in allReduceMean is set against its step time.
//
// Final JSON line: ours = bus bandwidth at 16 MB with R = 2, reference = raw loopback TCP, both GB/s; higher is
// better; the target is ratio >= 0.7.
// Environment: BENCH_ALLREDUCE_SIZES_MB (default 1,4,16,64), BENCH_ALLREDUCE_RANKS (2,3,4), BENCH_ALLREDUCE_BUCKET
// (bytes, default the library default), BENCH_ALLREDUCE_TRAIN_STEPS (default 24; 0 skips the training part).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { launchLocalReplicas, spawnReplicas } from '../src/train/launch-local.js';
import type { ReplicaMessage } from '../src/train/replica-protocol.js';
import { DEFAULT_BUCKET_BYTES } from '../src/parallel/ring-join.js';

const MB = 1 << 20;
const SIZES_MB = (process.env.BENCH_ALLREDUCE_SIZES_MB ?? '1,4,16,64').split(',').map(Number);
const RANKS = (process.env.BENCH_ALLREDUCE_RANKS ?? '2,3,4').split(',').map(Number);
const BUCKET = Number(process.env.BENCH_ALLREDUCE_BUCKET ?? DEFAULT_BUCKET_BYTES);
const TRAIN_STEPS = Number(process.env.BENCH_ALLREDUCE_TRAIN_STEPS ?? 24);

// Warm-up rounds are not timed: the first two or three all-reduces of a fresh group run at half speed (V8 compiles
// the ring code; the allocator maps fresh pages for ZeroMQ's receive buffers; loopback TCP windows grow), while a
// training run does thousands. Every timed round counts, outliers included (the mean, not the best).
function iterationsFor(mb: number): { iterations: number; warmup: number } {
  if (mb <= 1) return { iterations: 40, warmup: 5 };
  if (mb <= 4) return { iterations: 25, warmup: 5 };
  if (mb <= 16) return { iterations: 16, warmup: 4 };
  return { iterations: 5, warmup: 3 };
}

const RECEIVER = `
const net = require('node:net');
const total = Number(process.argv[1]);
const srv = net.createServer((s) => {
  let got = 0, t0 = 0;
  s.on('data', (d) => {
    if (got === 0) t0 = process.hrtime.bigint();
    got += d.length;
    if (got >= total) {
      const sec = Number(process.hrtime.bigint() - t0) / 1e9;
      process.stdout.write(JSON.stringify({ bytes: got, seconds: sec }) + '\\n');
      s.destroy(); srv.close();
    }
  });
});
srv.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: srv.address().port }) + '\\n'));
`;

const ZMQ_BIDI = `
const zmq = require(process.argv[1]);
const total = Number(process.argv[2]), frameBytes = Number(process.argv[3]);
(async () => {
  const pull = new zmq.Pull({ receiveHighWaterMark: 0 });
  await pull.bind('tcp://127.0.0.1:*');
  const port = Number(pull.lastEndpoint.split(':').pop());
  process.stdout.write(JSON.stringify({ port }) + '\\n');
  const peer = await new Promise((r) => process.stdin.once('data', (l) => r(JSON.parse(String(l)).peer)));
  const push = new zmq.Push({ sendHighWaterMark: 0 });
  push.connect('tcp://127.0.0.1:' + peer);
  await push.send([Buffer.alloc(48), Buffer.alloc(0)]);
  await pull.receive();
  const frame = Buffer.alloc(frameBytes, 7), header = Buffer.alloc(48);
  const t0 = process.hrtime.bigint();
  let chain = Promise.resolve(), got = 0;
  for (let sent = 0; sent < total; sent += frameBytes) chain = chain.then(() => push.send([header, frame]));
  while (got < total) got += (await pull.receive())[1].length;
  await chain;
  process.stdout.write(JSON.stringify({ bytes: got, seconds: Number(process.hrtime.bigint() - t0) / 1e9 }) + '\\n');
  await new Promise((r) => process.stdin.once('data', r));
  push.close(); pull.close();
})();
`;

/** Reads JSON lines from a child's stdout. */
function lineReader(child: ReturnType<typeof spawn>): () => Promise<string> {
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
      wake?.();
    }
  });
  return async () => {
    while (lines.length === 0) await new Promise<void>((r) => (wake = r));
    return lines.shift() as string;
  };
}

/** One-direction loopback TCP throughput in GB/s (best of `repeats`). */
async function rawTcp(totalBytes: number, repeats: number): Promise<number> {
  let best = 0;
  for (let k = 0; k < repeats; k++) {
    const child = spawn(process.execPath, ['-e', RECEIVER, String(totalBytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const nextLine = lineReader(child);
    const { port } = JSON.parse(await nextLine()) as { port: number };
    const sock = connect(port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const chunk = Buffer.alloc(MB, 7);
    let sent = 0;
    while (sent < totalBytes) {
      sent += chunk.length;
      if (!sock.write(chunk)) await new Promise<void>((r) => sock.once('drain', () => r()));
    }
    const { bytes, seconds } = JSON.parse(await nextLine()) as { bytes: number; seconds: number };
    sock.destroy();
    best = Math.max(best, bytes / seconds / 1e9);
  }
  return best;
}

const BIDI = `
const net = require('node:net');
const total = Number(process.argv[1]);
let got = 0, t0 = 0, sendDone = false, reported = false;
const report = () => {
  if (reported || got < total || !sendDone) return;
  reported = true;
  process.stdout.write(JSON.stringify({ bytes: got, seconds: Number(process.hrtime.bigint() - t0) / 1e9 }) + '\\n');
};
const srv = net.createServer((s) => s.on('data', (d) => { got += d.length; report(); }));
srv.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: srv.address().port }) + '\\n'));
process.stdin.once('data', (line) => {
  const { peer } = JSON.parse(String(line));
  const sock = net.connect(peer, '127.0.0.1', async () => {
    const chunk = Buffer.alloc(1 << 20, 7);
    t0 = process.hrtime.bigint();
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (!sock.write(chunk)) await new Promise((r) => sock.once('drain', r));
    }
    sendDone = true;
    report();
  });
  process.stdin.once('data', () => { sock.destroy(); srv.close(); process.exit(0); });
});
`;

/**
 * Two processes each send `totalBytes` to the other at the same time, over node net (`BIDI`) or ZeroMQ
 * (`ZMQ_BIDI`); GB/s per direction, from the slower of the two (each times its own send start to its last received
 * byte); best of `repeats`.
 */
async function bidirectional(script: string, args: string[], totalBytes: number, repeats: number): Promise<number> {
  let best = 0;
  for (let k = 0; k < repeats; k++) {
    const kids = [0, 1].map(() => spawn(process.execPath, ['-e', script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] }));
    const next = kids.map(lineReader);
    const ports = await Promise.all(next.map(async (n) => (JSON.parse(await n()) as { port: number }).port));
    kids.forEach((c, i) => c.stdin?.write(JSON.stringify({ peer: ports[1 - i] }) + '\n'));
    const done = await Promise.all(next.map(async (n) => JSON.parse(await n()) as { bytes: number; seconds: number }));
    kids.forEach((c) => c.stdin?.end('bye\n'));
    await Promise.all(kids.map((c) => new Promise((r) => c.once('close', r))));
    best = Math.max(best, Math.min(...done.map((d) => d.bytes / d.seconds / 1e9)));
  }
  return best;
}

interface SizeResult {
  elements: number;
  iterations: number;
  seconds: number;
  maxErr: number;
}

/** Seconds per all-reduce of each size (slowest rank) with R processes. */
async function ringTimes(R: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const mb of SIZES_MB) {
    const elements = (mb * MB) / 4;
    const { iterations, warmup } = iterationsFor(mb);
    const group = await spawnReplicas({
      replicas: R,
      config: () => ({ exercise: { sizes: [elements], iterations, warmup }, bucketBytes: BUCKET, timeoutMs: 120_000 }),
    });
    const outcomes = await group.wait();
    let worst = 0;
    for (const o of outcomes) {
      if (o.code !== 0) throw new Error(`R=${R}, ${mb} MB: rank ${o.rank} failed: ${o.error?.message ?? o.signal ?? o.code}`);
      if (o.done?.kind !== 'exercise') throw new Error(`R=${R}, ${mb} MB: rank ${o.rank} reported no exercise result`);
      const r = o.done.exercise.results[0] as SizeResult;
      if (r.maxErr > 1e-4) throw new Error(`R=${R}, ${mb} MB: wrong result on rank ${o.rank} (max error ${r.maxErr})`);
      worst = Math.max(worst, r.seconds / r.iterations);
    }
    out.set(mb, worst);
  }
  return out;
}

async function trainingOverhead(): Promise<Record<string, number> | undefined> {
  if (TRAIN_STEPS <= 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'dcign-bench-allreduce-'));
  try {
    const logEvery = Math.max(1, Math.floor(TRAIN_STEPS / 3));
    const config = (name: string): Parameters<typeof launchLocalReplicas>[0] =>
      ({
        dataset: 'dsprites',
        model: { imageSize: 64, latentSize: 10 },
        steps: TRAIN_STEPS,
        batchSize: 64,
        logEvery,
        checkpointEvery: 0,
        consistencyEvery: 0,
        evalBatches: 0,
        runDir: join(dir, name),
      }) as unknown as Parameters<typeof launchLocalReplicas>[0];
    const stepSeconds: Record<number, number> = {};
    const exchange: Record<number, { calls: number; seconds: number; waitSeconds: number; floats: number }> = {};
    for (const R of [1, 2]) {
      // steps/s and exchange time after the first log interval (graph and ring warm-up excluded), from rank 0's logs
      const rates: number[] = [];
      const counters: NonNullable<Extract<ReplicaMessage, { type: 'log' }>['exchange']>[] = [];
      // every rank's wait: with equal work it alternates between the ranks; one rank always waiting means one is slower
      const waits: number[][] = Array.from({ length: R }, () => []);
      const group = await spawnReplicas({
        replicas: R,
        stderr: 'ignore',
        config: () => ({ train: config(`r${R}`) as never, timeoutMs: 120_000, logAllRanks: true }),
        onMessage: (rank, msg: ReplicaMessage) => {
          if (msg.type !== 'log') return;
          if (msg.exchange) waits[rank]?.push(msg.exchange.allReduceWaitSeconds);
          if (rank !== 0) return;
          rates.push(msg.scalars.steps_per_s ?? NaN);
          if (msg.exchange) counters.push(msg.exchange);
        },
      });
      const outcomes = await group.wait();
      for (const o of outcomes) if (o.code !== 0) throw new Error(`training R=${R}: ${o.error?.message ?? o.code}`);
      const steady = rates.slice(1);
      stepSeconds[R] = steady.length ? steady.length / steady.reduce((a, b) => a + b, 0) : NaN;
      if (R > 1) {
        const perInterval = waits.map((w) => w.slice(1).map((v, i) => (((v - (w[i] as number)) / logEvery) * 1000).toFixed(1)));
        console.log(`R=${R} wait for the other rank per step, each log interval (ms): ${perInterval.map((w, r) => `rank ${r} [${w.join(', ')}]`).join('; ')}`);
      }
      const first = counters[0];
      const last = counters[counters.length - 1];
      if (first && last && last !== first) {
        exchange[R] = {
          calls: last.allReduceCalls - first.allReduceCalls,
          seconds: last.allReduceSeconds - first.allReduceSeconds,
          waitSeconds: last.allReduceWaitSeconds - first.allReduceWaitSeconds,
          floats: last.allReduceFloats - first.allReduceFloats,
        };
      }
    }
    const ex2 = exchange[2];
    const perCall = ex2 && ex2.calls > 0 ? ex2.seconds / ex2.calls : NaN;
    const waitPerCall = ex2 && ex2.calls > 0 ? ex2.waitSeconds / ex2.calls : NaN;
    return {
      step_ms_r1: (stepSeconds[1] ?? NaN) * 1000,
      step_ms_r2: (stepSeconds[2] ?? NaN) * 1000,
      allreduce_ms_per_step_r2: perCall * 1000,
      allreduce_wait_ms_per_step_r2: waitPerCall * 1000,
      gradient_mb: ex2 && ex2.calls > 0 ? (ex2.floats / ex2.calls) * 4 / MB : NaN,
      exchange_share_of_step_r2: perCall / (stepSeconds[2] ?? NaN),
      transfer_share_of_step_r2: (perCall - waitPerCall) / (stepSeconds[2] ?? NaN),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const raw = await rawTcp(512 * MB, 3);
  console.log(`raw loopback TCP (node net, one direction, 1 MiB writes): ${raw.toFixed(2)} GB/s`);
  const bidi = await bidirectional(BIDI, [String(256 * MB)], 256 * MB, 3);
  console.log(`raw loopback TCP both directions at once (two processes, 1 MiB writes): ${bidi.toFixed(2)} GB/s per direction`);
  const zmqPath = createRequire(import.meta.url).resolve('zeromq');
  const zmqBidi = await bidirectional(ZMQ_BIDI, [zmqPath, String(256 * MB), String(MB / 2)], 256 * MB, 3);
  console.log(`ZeroMQ PUSH/PULL both directions at once (512 KiB frames, no checks): ${zmqBidi.toFixed(2)} GB/s per direction`);
  console.log(`bucket size ${BUCKET / MB} MiB`);
  console.log('R  size_MB  ms/allreduce  alg_GB/s  bus_GB/s  bus/raw  bus/raw_bidir');
  const bus = new Map<string, number>();
  for (const R of RANKS) {
    const times = await ringTimes(R);
    for (const mb of SIZES_MB) {
      const t = times.get(mb) as number;
      const alg = (mb * MB) / t / 1e9;
      const b = (alg * 2 * (R - 1)) / R;
      bus.set(`${R}:${mb}`, b);
      console.log(
        `${R}  ${String(mb).padStart(7)}  ${(t * 1000).toFixed(1).padStart(12)}  ${alg.toFixed(2).padStart(8)}  ${b.toFixed(2).padStart(8)}  ${(b / raw).toFixed(2).padStart(7)}  ${(b / bidi).toFixed(2).padStart(13)}`,
      );
    }
  }
  const overhead = await trainingOverhead().catch((err: unknown) => {
    console.log(`training overhead not measured: ${(err as Error).message}`);
    return undefined;
  });
  if (overhead) {
    console.log(
      `standard model, global batch 64: R=1 ${overhead.step_ms_r1?.toFixed(0)} ms/step; R=2 ${overhead.step_ms_r2?.toFixed(0)} ms/step, ` +
        `of which all-reduce of ${overhead.gradient_mb?.toFixed(2)} MB ${overhead.allreduce_ms_per_step_r2?.toFixed(1)} ms ` +
        `(${((overhead.exchange_share_of_step_r2 ?? NaN) * 100).toFixed(1)}% of the step, target < 5%); ` +
        `of those ${overhead.allreduce_wait_ms_per_step_r2?.toFixed(1)} ms waiting for the other rank's first frame ` +
        `(it was still computing), ${((overhead.allreduce_ms_per_step_r2 ?? NaN) - (overhead.allreduce_wait_ms_per_step_r2 ?? NaN)).toFixed(1)} ms ` +
        `moving and reducing (${((overhead.transfer_share_of_step_r2 ?? NaN) * 100).toFixed(1)}% of the step)`,
    );
  }
  const ours = bus.get('2:16') ?? NaN;
  console.log(JSON.stringify({ bench: 'allreduce_bus_bandwidth_16MB_R2', ours, reference: raw, unit: 'GB/s', ratio: ours / raw }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
