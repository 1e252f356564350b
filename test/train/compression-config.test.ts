// `parallel.compression` from each place a user sets it to the replicas' ring: a sweep spec (validated with the other
// keys, carried into every trial's train config), a run config file, `dcign train --compression`; and two real replica
// processes (replica-child.js, TensorFlow.js + ZeroMQ) training with fp16 on the wire send half the bytes of float32
// and keep identical parameters.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import test from 'ava';

import type { Compression } from '../../src/parallel/compression.js';
import { expandTrials, trainConfigFor } from '../../src/sweep/expand.js';
import { SweepSpecError, validateSweepSpec } from '../../src/sweep/spec.js';
import { configFromFlags } from '../../src/train/cli.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { spawnReplicas } from '../../src/train/launch-local.js';
import type { ExchangeStats } from '../../src/parallel/ring.js';
import { runConfigFrom } from '../../src/train/run-config-file.js';

const spec = {
  name: 'unit',
  dataset: 'dsprites',
  model: { variant: 'beta-vae', latentSize: 10 },
  train: { steps: 100, batchSize: 64 },
  search: { grid: { beta: [1, 4] }, seeds: [0] },
  replicas: 2,
};

let root = '';
test.before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'dcign-compression-config-'));
});
test.after.always(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

test('a sweep spec takes parallel.compression, refuses other values and keys naming the choices, and every trial trains with it', (t) => {
  const s = validateSweepSpec({ ...spec, parallel: { compression: 'fp16' } });
  t.deepEqual(s.parallel, { compression: 'fp16' });
  for (const trial of expandTrials(s)) t.is(trainConfigFor(s, trial, 'unit/x').compression, 'fp16');
  // none (or no section) leaves the trial configs as they were before compression existed
  const plain = validateSweepSpec({ ...spec, parallel: { compression: 'none' } });
  t.is(plain.parallel, undefined);
  t.false('compression' in trainConfigFor(plain, expandTrials(plain)[0]!, 'unit/x'));
  const err = t.throws(() => validateSweepSpec({ ...spec, parallel: { compression: 'fp8', bucket: 1 } }), { instanceOf: SweepSpecError }) as SweepSpecError;
  t.regex(err.message, /parallel\.compression: got "fp8"; expected one of none, fp16, bf16/);
  t.regex(err.message, /parallel\.bucket: got 1; unknown field; allowed: compression/);
  t.throws(() => validateSweepSpec({ ...spec, parallel: 'fp16' }), { message: /parallel: got "fp16"; expected a mapping such as \{compression: fp16\}/ });
});

test('a run config file and dcign train flags set compression; a bad value names parallel.compression and the choices', (t) => {
  t.is(runConfigFrom({ dataset: 'dsprites', parallel: { compression: 'bf16' } }).compression, 'bf16');
  t.throws(() => runConfigFrom({ parallel: { compresion: 'bf16' } }), { message: /parallel\.compresion/ });
  const runDir = path.join(root, 'flags');
  t.is(configFromFlags({ compression: 'fp16', runDir }).compression, 'fp16');
  t.is(configFromFlags({ runDir }).compression, undefined);
  t.throws(() => configFromFlags({ compression: 'half', runDir }), { message: /parallel\.compression.*must be one of none, fp16, bf16, got "half"/ });
  t.throws(() => resolveTrainConfig({ compression: 'fp32' as Compression, runDir }), { message: /parallel\.compression/ });
});

async function trainTwo(compression: Compression): Promise<{ exchange: ExchangeStats[]; checksums: number[] }> {
  const runDir = path.join(root, compression);
  const group = await spawnReplicas({
    replicas: 2,
    stderr: 'pipe',
    config: () => ({
      train: {
        dataset: 'dsprites-small',
        model: { imageSize: 32, latentSize: 3, beta: 1 },
        steps: 3,
        batchSize: 4,
        learningRate: 1e-3,
        logEvery: 1,
        checkpointEvery: 0,
        evalBatches: 0,
        runDir,
        compression,
      },
      timeoutMs: 60_000, // long, so a process starved by a loaded machine is not taken for a lost peer
    }),
  });
  const outcomes = await group.wait();
  const exchange: ExchangeStats[] = [];
  const checksums: number[] = [];
  for (const o of outcomes) {
    if (o.code !== 0 || o.done?.kind !== 'train') throw new Error(`rank ${o.rank}: ${o.error?.message ?? ''} ${group.processes[o.rank]?.stderr.slice(-2000) ?? ''}`);
    const done = group.processes[o.rank]?.messages.find((m) => m.type === 'done');
    if (done?.type !== 'done' || !done.exchange) throw new Error(`rank ${o.rank} reported no exchange counters`);
    exchange.push(done.exchange);
    checksums.push(o.done.train.paramChecksum);
  }
  return { exchange, checksums };
}

test.serial('2 replica processes with fp16 on the wire send half the bytes of float32 and stay identical', async (t) => {
  const none = await trainTwo('none');
  const fp16 = await trainTwo('fp16');
  for (const [rank, e] of fp16.exchange.entries()) {
    const f32 = none.exchange[rank] as ExchangeStats;
    t.is(e.allReduceFloats, f32.allReduceFloats); // the same gradients (3 steps) went through the ring
    t.true(e.bytesSent > 0);
    t.is(e.bytesSent * 2, f32.bytesSent, `rank ${rank}`);
  }
  t.is(new Set(fp16.checksums).size, 1, 'fp16 replicas hold different parameters');
  t.not(fp16.checksums[0], none.checksums[0], 'fp16 training gave float32 training\'s parameters: nothing was rounded');
});
