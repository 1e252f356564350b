import test from 'ava';
import { createHash } from 'node:crypto';
import { createSampler, openDataset } from '../../src/data/index.js';
import type { Batch, FactorDataset } from '../../src/data/index.js';

const small = (): FactorDataset => openDataset('dsprites-small');

function take(ds: FactorDataset, opts: Parameters<typeof createSampler>[1], steps: number): Batch[] {
  const s = createSampler(ds, opts);
  return Array.from({ length: steps }, () => s.next());
}

test('iid: batch shape, factors in range, images match their factors', (t) => {
  const ds = small();
  const [b] = take(ds, { kind: 'iid', batchSize: 8, seed: 1 }, 1);
  if (b === undefined) return t.fail();
  t.is(b.batchSize, 8);
  t.is(b.images.length, 8 * 32 * 32);
  t.is(b.variedFactor, undefined);
  t.deepEqual(b.globalIndices, [0, 1, 2, 3, 4, 5, 6, 7]);
  const one = new Float32Array(32 * 32);
  b.factors.forEach((f, i) => {
    f.forEach((v, k) => t.true(v >= 0 && v < (ds.factors[k]?.size ?? 0)));
    ds.render(f, one, 0);
    t.deepEqual(b.images.subarray(i * 1024, (i + 1) * 1024), one);
  });
});

test('iid: the same seed gives the same order, another seed another', (t) => {
  const ds = small();
  const a = take(ds, { kind: 'iid', batchSize: 16, seed: 7 }, 3).map((b) => b.factors);
  const b = take(ds, { kind: 'iid', batchSize: 16, seed: 7 }, 3).map((b) => b.factors);
  const c = take(ds, { kind: 'iid', batchSize: 16, seed: 8 }, 3).map((b) => b.factors);
  t.deepEqual(a, b);
  t.notDeepEqual(a, c);
});

for (const kind of ['iid', 'dcign'] as const) {
  test(`${kind}: shards are disjoint, cover the global batch, and keep the global order`, (t) => {
    const ds = small();
    const whole = take(ds, { kind, batchSize: 12, seed: 3 }, 4);
    const shards = [0, 1, 2].map((rank) => take(ds, { kind, batchSize: 12, seed: 3, rank, worldSize: 3 }, 4));
    for (let step = 0; step < 4; step++) {
      const parts = shards.map((s) => s[step] as Batch);
      const indices = parts.flatMap((p) => [...p.globalIndices]);
      t.is(new Set(indices).size, 12, 'disjoint');
      t.deepEqual(indices, [...(whole[step] as Batch).globalIndices], 'covering, in order');
      t.deepEqual(
        parts.flatMap((p) => p.factors),
        (whole[step] as Batch).factors,
      );
      parts.forEach((p) => t.is(p.batchSize, 4));
      if (kind === 'dcign') parts.forEach((p) => t.is(p.variedFactor, (whole[step] as Batch).variedFactor));
    }
  });

  test(`${kind}: position() and restore() resume exactly`, (t) => {
    const ds = small();
    const opts = { kind, batchSize: 6, seed: 11 } as const;
    const s = createSampler(ds, opts);
    s.next();
    s.next();
    const pos = JSON.parse(JSON.stringify(s.position())) as Record<string, unknown>;
    const expected = [s.next(), s.next()];
    const resumed = createSampler(ds, opts);
    resumed.restore(pos);
    t.deepEqual([resumed.next(), resumed.next()], expected);
    t.throws(() => createSampler(ds, { ...opts, seed: 12 }).restore(pos), { message: /seed 11, this run has 12/ });
    t.throws(() => createSampler(ds, { ...opts, batchSize: 12 }).restore(pos), { message: /global batchSize 6/ });
  });
}

test('dcign: every batch varies exactly one factor, the others are fixed', (t) => {
  const ds = small();
  const seen = new Set<number>();
  for (const b of take(ds, { kind: 'dcign', batchSize: 16, seed: 5 }, 40)) {
    const v = b.variedFactor;
    if (v === undefined) return t.fail('no variedFactor');
    seen.add(v);
    const first = b.factors[0] ?? [];
    for (const f of b.factors) {
      f.forEach((x, k) => {
        if (k !== v) t.is(x, first[k] ?? -1);
      });
    }
    // With 16 samples and at least 3 values the varied factor takes several values.
    t.true(new Set(b.factors.map((f) => f[v] ?? -1)).size >= Math.min(3, ds.factors[v]?.size ?? 0));
  }
  t.is(seen.size, 5, 'every factor gets its turn');
});

test('dcign: variedFactor by name or index fixes the factor', (t) => {
  const ds = small();
  for (const b of take(ds, { kind: 'dcign', batchSize: 8, seed: 5, variedFactor: 'orientation' }, 5)) {
    t.is(b.variedFactor, 2);
    t.deepEqual(new Set(b.factors.map((f) => f[2])).size, 8);
  }
  for (const b of take(ds, { kind: 'dcign', batchSize: 8, seed: 5, variedFactor: 0 }, 3)) t.is(b.variedFactor, 0);
  t.throws(() => createSampler(ds, { kind: 'dcign', batchSize: 8, seed: 1, variedFactor: 'colour' }), {
    message: /no factor named 'colour'; factors: 0=shape/,
  });
});

test('bad sampler options give clear errors', (t) => {
  const ds = small();
  t.throws(() => createSampler(ds, { kind: 'iid', batchSize: 10, seed: 1, worldSize: 4 }), {
    message: /batchSize 10 does not divide evenly over 4 replicas/,
  });
  t.throws(() => createSampler(ds, { kind: 'iid', batchSize: 8, seed: 1, worldSize: 2, rank: 2 }), {
    message: /rank must be an integer in \[0, 2\)/,
  });
  t.throws(() => createSampler(ds, { kind: 'iid', batchSize: 0, seed: 1 }), { message: /positive integer/ });
  t.throws(() => createSampler(ds, { kind: 'iid', batchSize: 8, seed: 1, variedFactor: 1 }), {
    message: /dcign batches only/,
  });
});

test('the global sample order for a seed is pinned (checkpoints made today resume the same order tomorrow)', (t) => {
  const ds = openDataset('dsprites');
  const pinned = {
    iid: 'cc69feeeb4bfdf03d847185591433d504952345556aec394202b4d74b6e0d49a',
    dcign: '8aaaf20c0138949e0f86d33526e445070beb0c6603bb2860b51528bccaf21d44',
  };
  for (const kind of ['iid', 'dcign'] as const) {
    const s = createSampler(ds, { kind, batchSize: 32, seed: 42 });
    const h = createHash('sha256');
    for (let i = 0; i < 3; i++) {
      const b = s.next();
      h.update(JSON.stringify([b.factors, b.globalIndices, b.variedFactor ?? null]));
    }
    t.is(h.digest('hex'), pinned[kind], kind);
  }
});
