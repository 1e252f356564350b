// Ring all-reduce between hosts whose links are shaped, next to raw TCP over the same shaped link in the same run.
//
// Hosts are network namespaces on one bridge (test/helpers/netns.ts; needs root), each link shaped with tc (token
// bucket) in both directions to 1 Gbit/s and then 10 Gbit/s. For each rate: raw TCP (node net, one direction, 1 MiB
// writes, sender and receiver on two hosts), then R = 2 and 3 replica processes (replica-child.js, synthetic
// workload, static rendezvous), one per host, all-reducing 16 MB; and at 1 Gbit/s R = 2 again with the cluster key
// (CURVE). Bus bandwidth = bytes / time x 2(R-1)/R: what each rank sends per second, comparable with one TCP stream.
// Then the standard model (Higgins et al. 2017, 64x64, global batch 64) trains with R = 1 on one host and R = 2 on
// two hosts at 1 Gbit/s: the per-step overhead of the second host.
// This machine's cores are shared by every namespace host, so the 10 Gbit/s figures are bounded by CPU, not link.
//
// Final JSON line: ours = bus bandwidth at 16 MB, R = 2, 1 Gbit/s; reference = raw TCP over that link; GB/s.
// Environment: BENCH_CLUSTER_TRAIN_STEPS (default 24; 0 skips training), BENCH_CLUSTER_RATES (default 1gbit,10gbit).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { writeClusterKeyFile } from '../src/parallel/curve.js';
import { threadShareEnv } from '../src/parallel/threads.js';
import { REPLICA_CHILD_SCRIPT } from '../src/train/launch-local.js';
import { parseReplicaMessage, type ReplicaConfig, type ReplicaMessage } from '../src/train/replica-protocol.js';
import { Network, netnsUnavailable, parseRate } from '../test/helpers/netns.js';

const MB = 1 << 20;
const PREFIX = 'dcgbn';
const SUBNET = '198.19.43';
const HOSTS = ['h1', 'h2', 'h3'];
const RATES = (process.env.BENCH_CLUSTER_RATES ?? '1gbit,10gbit').split(',');
const TRAIN_STEPS = Number(process.env.BENCH_CLUSTER_TRAIN_STEPS ?? 24);
const PORT = 29500;

const RECEIVER = `
const net = require('node:net');
const [host, total] = [process.argv[1], Number(process.argv[2])];
const srv = net.createServer((s) => {
  let got = 0, t0 = 0;
  s.on('data', (d) => {
    if (got === 0) t0 = process.hrtime.bigint();
    got += d.length;
    if (got >= total) {
      console.log(JSON.stringify({ bytes: got, seconds: Number(process.hrtime.bigint() - t0) / 1e9 }));
      s.destroy(); srv.close();
    }
  });
});
srv.listen(5201, host, () => console.log(JSON.stringify({ listening: true })));
`;

const SENDER = `
const net = require('node:net');
const [host, total] = [process.argv[1], Number(process.argv[2])];
const s = net.connect(5201, host, async () => {
  const chunk = Buffer.alloc(1 << 20, 7);
  for (let sent = 0; sent < total; sent += chunk.length) if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
  s.end();
});
`;

/** JSON lines a host process has written to its log so far. */
function jsonLines(file: string): unknown[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as unknown);
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One-direction raw TCP from h1 to h2 in GB/s (best of `repeats`). */
async function rawTcp(net: Network, tag: string, totalBytes: number, repeats: number): Promise<number> {
  let best = 0;
  for (let k = 0; k < repeats; k++) {
    const rx = net.start('h2', `tcp-rx-${tag}-${k}`, [process.execPath, '-e', RECEIVER, net.host('h2').ip, String(totalBytes)]);
    await until('the TCP receiver', () => (jsonLines(rx.logFile).length > 0 ? true : undefined), 10_000);
    await net.run('h1', [process.execPath, '-e', SENDER, net.host('h2').ip, String(totalBytes)]);
    await rx.exited;
    const r = jsonLines(rx.logFile).find((l): l is { bytes: number; seconds: number } => typeof (l as { bytes?: unknown }).bytes === 'number');
    if (!r) throw new Error(`raw TCP receiver reported nothing:\n${rx.tail()}`);
    best = Math.max(best, r.bytes / r.seconds / 1e9);
  }
  return best;
}

/**
 * R replica processes, one per host, with a static rendezvous; each runs `config`. Resolves with every rank's
 * messages once all have exited; throws naming the rank that failed.
 */
async function runGroup(net: Network, R: number, tag: string, config: Omit<ReplicaConfig, 'rendezvous' | 'bind'>, env: NodeJS.ProcessEnv = {}): Promise<ReplicaMessage[][]> {
  const endpoints = HOSTS.slice(0, R).map((h) => `tcp://${net.host(h).ip}:${PORT}`);
  const procs = HOSTS.slice(0, R).map((h, rank) => {
    const cfg: ReplicaConfig = { ...config, bind: net.host(h).ip, rendezvous: { kind: 'static', endpoints, rank, groupId: `bench-${tag}` } };
    return net.start(h, `${tag}-r${rank}`, [process.execPath, REPLICA_CHILD_SCRIPT], { ...env, DCIGN_REPLICA_CONFIG: JSON.stringify(cfg) });
  });
  const exits = await Promise.all(procs.map((p) => p.exited));
  const messages = procs.map((p) =>
    readFileSync(p.logFile, 'utf8')
      .split('\n')
      .map(parseReplicaMessage)
      .filter((m): m is ReplicaMessage => m !== undefined),
  );
  exits.forEach((e, rank) => {
    if (e.code !== 0) throw new Error(`${tag}: rank ${rank} exited with ${e.code ?? e.signal}:\n${procs[rank]?.tail()}`);
  });
  return messages;
}

/** Seconds per 16 MB all-reduce (slowest rank) with R hosts. */
async function ringSeconds(net: Network, R: number, tag: string, env: NodeJS.ProcessEnv = {}): Promise<number> {
  const messages = await runGroup(net, R, tag, { exercise: { sizes: [(16 * MB) / 4], iterations: 8, warmup: 2 }, timeoutMs: 120_000 }, env);
  let worst = 0;
  messages.forEach((ms, rank) => {
    const done = ms.find((m): m is Extract<ReplicaMessage, { type: 'done' }> => m.type === 'done');
    if (done?.output.kind !== 'exercise') throw new Error(`${tag}: rank ${rank} reported no result`);
    const r = done.output.exercise.results[0];
    if (!r || r.maxErr > 1e-4) throw new Error(`${tag}: wrong result on rank ${rank}`);
    worst = Math.max(worst, r.seconds / r.iterations);
  });
  return worst;
}

/** ms per step (after the first log interval) and all-reduce ms per step of the standard model with R hosts. */
async function training(net: Network, R: number, dir: string): Promise<{ stepMs: number; allReduceMs: number }> {
  const logEvery = Math.max(1, Math.floor(TRAIN_STEPS / 3));
  const train = {
    dataset: 'dsprites',
    model: { imageSize: 64, latentSize: 10 },
    steps: TRAIN_STEPS,
    batchSize: 64,
    logEvery,
    checkpointEvery: 0,
    consistencyEvery: 0,
    evalBatches: 0,
    runDir: join(dir, `train-r${R}`),
  };
  // the namespace hosts share this machine's cores: each replica gets its share of TensorFlow threads
  const env = threadShareEnv(R, process.env);
  const messages = await runGroup(net, R, `train-r${R}`, { train: train as never, timeoutMs: 120_000 }, env);
  const logs = (messages[0] ?? []).filter((m): m is Extract<ReplicaMessage, { type: 'log' }> => m.type === 'log');
  const steady = logs.slice(1).map((m) => m.scalars.steps_per_s ?? NaN);
  const stepMs = steady.length ? (steady.length / steady.reduce((a, b) => a + b, 0)) * 1000 : NaN;
  const first = logs[1]?.exchange;
  const last = logs[logs.length - 1]?.exchange;
  const allReduceMs = first && last && last.allReduceCalls > first.allReduceCalls ? ((last.allReduceSeconds - first.allReduceSeconds) / (last.allReduceCalls - first.allReduceCalls)) * 1000 : 0;
  return { stepMs, allReduceMs };
}

async function main(): Promise<void> {
  const why = await netnsUnavailable(PREFIX);
  if (why) throw new Error(`bench:cluster ${why}`);
  const dir = mkdtempSync(join(tmpdir(), 'dcign-bench-cluster-'));
  const net = await Network.create({ prefix: PREFIX, subnet: SUBNET, hosts: HOSTS, logDir: join(dir, 'logs') });
  const onSignal = (): void => {
    void net.destroy().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const keyFile = join(dir, 'cluster.key');
    writeClusterKeyFile(keyFile);
    let ours = NaN;
    let reference = NaN;
    console.log('rate     R  ring                ms/allreduce(16MB)  bus_GB/s  raw_TCP_GB/s  bus/raw');
    for (const rate of RATES) {
      for (const h of HOSTS) await net.shape(h, { rate });
      // about 2 s of traffic at the shaped rate
      const raw = await rawTcp(net, rate, Math.min(1024 * MB, Math.ceil((parseRate(rate) / 8) * 2 / MB) * MB), 2);
      const rows: [number, string, NodeJS.ProcessEnv][] = [[2, 'plain', {}], [3, 'plain', {}]];
      if (rate === RATES[0]) rows.push([2, 'CURVE cluster key', { DCIGN_CLUSTER_KEY_FILE: keyFile }]);
      for (const [R, kind, env] of rows) {
        const t = await ringSeconds(net, R, `ring-${rate}-r${R}-${kind === 'plain' ? 'plain' : 'curve'}`, env);
        const bus = ((16 * MB) / t / 1e9) * ((2 * (R - 1)) / R);
        console.log(`${rate.padEnd(7)}  ${R}  ${kind.padEnd(18)}  ${(t * 1000).toFixed(1).padStart(18)}  ${bus.toFixed(3).padStart(8)}  ${raw.toFixed(3).padStart(12)}  ${(bus / raw).toFixed(2).padStart(7)}`);
        if (rate === '1gbit' && R === 2 && kind === 'plain') {
          ours = bus;
          reference = raw;
        }
      }
    }
    if (TRAIN_STEPS > 0) {
      for (const h of HOSTS) await net.shape(h, { rate: '1gbit' });
      const r1 = await training(net, 1, dir);
      const r2 = await training(net, 2, dir);
      console.log(
        `standard model, global batch 64, 1 Gbit/s links: R=1 (one host) ${r1.stepMs.toFixed(0)} ms/step; R=2 (two hosts) ` +
          `${r2.stepMs.toFixed(0)} ms/step, of which all-reduce ${r2.allReduceMs.toFixed(1)} ms; overhead of the second host ` +
          `${(r2.stepMs - r1.stepMs).toFixed(0)} ms/step (${(((r2.stepMs - r1.stepMs) / r1.stepMs) * 100).toFixed(0)}%; the two replicas share this machine's cores)`,
      );
    }
    console.log(JSON.stringify({ bench: 'cluster_allreduce_bus_bandwidth_16MB_R2_1gbit', ours, reference, unit: 'GB/s', ratio: ours / reference }));
  } finally {
    await net.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
