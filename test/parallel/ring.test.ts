// Ring all-reduce in one process: R socket sets on loopback. Numerical tolerance: the ring sums in float32 in a
// different order per chunk, so results may differ from the float64 mean by a few float32 ulps; we allow 1e-6
// absolute on values in [-1, 1], and require every rank to hold bit-identical results.
import test from 'ava';
import * as zmq from 'zeromq';

import { RingError } from '../../src/parallel/ring-error.js';
import { chunkRange } from '../../src/parallel/ring-schedule.js';
import { closeAll, maxAbsDiff, randomBuffers, referenceMean, ringGroup } from './helpers.js';

test('chunkRange covers the bucket exactly, including lengths smaller than or not divisible by R', (t) => {
  for (const R of [1, 2, 3, 4, 7]) {
    for (const n of [0, 1, R - 1, R, R + 1, 10, 101]) {
      let next = 0;
      const sizes: number[] = [];
      for (let c = 0; c < R; c++) {
        const [s, e] = chunkRange(n, R, c);
        t.is(s, next);
        sizes.push(e - s);
        next = e;
      }
      t.is(next, n);
      t.true(Math.max(...sizes) - Math.min(...sizes) <= 1);
    }
  }
});

for (const R of [2, 3, 4]) {
  test(`R=${R}: allReduceMean equals the plain mean for awkward sizes, identical on every rank`, async (t) => {
    // 64-byte buckets (16 floats) so the larger buffers span several buckets with a ragged last one
    const group = await ringGroup(R, { bucketBytes: 64 });
    try {
      const sizes = [1, R - 1, R + 1, 7, 16, 17, 3 * 16 + 5, 1001].filter((n) => n > 0);
      for (const [k, n] of sizes.entries()) {
        const bufs = randomBuffers(R, n, 1000 * R + n);
        const ref = referenceMean(bufs);
        await Promise.all(group.map((r, i) => r.allReduceMean(bufs[i] as Float32Array, k)));
        t.true(maxAbsDiff(bufs[0] as Float32Array, ref) < 1e-6, `n=${n}`);
        for (const b of bufs) t.is(maxAbsDiff(b, bufs[0] as Float32Array), 0, `ranks differ for n=${n}`);
      }
      // an empty buffer is a valid (empty) collective
      await Promise.all(group.map((r) => r.allReduceMean(new Float32Array(0), 99)));
    } finally {
      await closeAll(group);
    }
  });
}

for (const [R, bucketBytes, n] of [
  [2, 64, 1001],
  [2, 1 << 20, 600_001],
  [3, 1 << 20, 600_001],
] as const) {
  test(`R=${R}, ${n} floats in ${bucketBytes}-byte buckets: a rank may overwrite its buffer as soon as allReduceMean returns`, async (t) => {
    // Sends are zero-copy from the caller's buffer and from a staging area reused across collectives; each rank
    // refills the same buffer the moment its call returns, while slower ranks may still be receiving. The window in
    // which an unsafe send would go wrong is short (ZeroMQ's I/O thread copies a frame into the socket quickly), so
    // this guards the schedule rather than proving it; a frame torn that way would fail its checksum, not be applied.
    const group = await ringGroup(R, { bucketBytes });
    const value = (rank: number, i: number, k: number): number => ((rank + 1) * ((i % 61) - 30) + k) / 64;
    const mean = (i: number, k: number): number => (((R + 1) / 2) * ((i % 61) - 30) + k) / 64;
    try {
      const worst = await Promise.all(
        group.map(async (r) => {
          const buf = new Float32Array(n);
          let err = 0;
          for (let k = 0; k < 6; k++) {
            for (let i = 0; i < n; i++) buf[i] = value(r.rank, i, k);
            await r.allReduceMean(buf, k);
            for (let i = 0; i < n; i++) err = Math.max(err, Math.abs((buf[i] as number) - mean(i, k)));
          }
          return err;
        }),
      );
      t.true(Math.max(...worst) < 1e-5, `max error ${Math.max(...worst)}`);
    } finally {
      await closeAll(group);
    }
  });
}

test('default bucket size: a 3 MB buffer (several buckets) reduces correctly with R=3', async (t) => {
  const group = await ringGroup(3);
  try {
    const n = 750_001;
    const bufs = randomBuffers(3, n, 7);
    const ref = referenceMean(bufs);
    await Promise.all(group.map((r, i) => r.allReduceMean(bufs[i] as Float32Array, 1)));
    t.true(maxAbsDiff(bufs[2] as Float32Array, ref) < 1e-6);
    t.is(maxAbsDiff(bufs[1] as Float32Array, bufs[0] as Float32Array), 0);
  } finally {
    await closeAll(group);
  }
});

test('broadcast copies rank 0 to every rank', async (t) => {
  const group = await ringGroup(3, { bucketBytes: 40 });
  try {
    const bufs = randomBuffers(3, 37, 3);
    const want = Float32Array.from(bufs[0] as Float32Array);
    await Promise.all(group.map((r, i) => r.broadcast(bufs[i] as Float32Array, 0)));
    for (const b of bufs) t.deepEqual(b, want);
  } finally {
    await closeAll(group);
  }
});

test('checkConsistent passes when checksums agree and names the diverged rank and step on every rank', async (t) => {
  const group = await ringGroup(4);
  try {
    await Promise.all(group.map((r) => r.checkConsistent(0xdeadbeef, 10)));
    const results = await Promise.allSettled(group.map((r, i) => r.checkConsistent(i === 2 ? 1 : 0xdeadbeef, 20)));
    for (const res of results) {
      t.is(res.status, 'rejected');
      const err = (res as PromiseRejectedResult).reason as RingError;
      t.true(err instanceof RingError);
      t.is(err.code, 'inconsistent');
      t.regex(err.message, /step 20: rank 2 differs from rank 0/);
    }
  } finally {
    await closeAll(group);
  }
});

test('a collective after close() or while another runs is refused', async (t) => {
  const group = await ringGroup(2);
  const buf = new Float32Array(4);
  const first = group[0]?.allReduceMean(buf, 0);
  await t.throwsAsync(async () => group[0]?.allReduceMean(new Float32Array(4), 0), { message: /still running/ });
  await Promise.all([first, group[1]?.allReduceMean(new Float32Array(4), 0)]);
  await closeAll(group);
  await t.throwsAsync(async () => group[0]?.allReduceMean(buf, 1), { message: /after close/ });
});

test('binding every interface is refused', async (t) => {
  await t.throwsAsync(() => ringGroup(2, { bindHost: '0.0.0.0' }), { message: /every interface/ });
});

test('zeromq has CURVE support in this build', (t) => {
  t.true(zmq.capability.curve === true);
});
