// The report's statistics on values checkable by hand.
import test from 'ava';

import { intervalText } from '../../src/report/html-format.js';
import { bootstrapMeanCi, mean, paretoFront, quantileSorted, ranks, seedInterval, spearman, tQuantile975 } from '../../src/report/stats.js';

test('mean and type-7 quantiles', (t) => {
  t.is(mean([1, 2, 3, 6]), 3);
  t.true(Number.isNaN(mean([])));
  t.is(quantileSorted([1, 2, 3, 4], 0.5), 2.5);
  t.is(quantileSorted([1, 2, 3, 4], 0.25), 1.75);
});

test('bootstrap interval: brackets the mean, inside the data range, deterministic per seed, degenerate for a constant', (t) => {
  const xs = [1, 2, 3, 4, 10];
  const c = bootstrapMeanCi(xs, { seed: 3 });
  t.is(c.mean, 4);
  t.is(c.n, 5);
  t.true(c.lo < 4 && c.hi > 4, `[${c.lo}, ${c.hi}]`);
  t.true(c.lo >= 1 && c.hi <= 10);
  t.deepEqual(bootstrapMeanCi(xs, { seed: 3 }), c);
  t.deepEqual(bootstrapMeanCi([2, 2, 2]), { n: 3, mean: 2, lo: 2, hi: 2, kind: 'bootstrap' });
  const one = bootstrapMeanCi([5, NaN]);
  t.is(one.n, 1);
  t.true(Number.isNaN(one.lo), 'one seed gives no interval');
  // a wider spread gives a wider interval
  const wide = bootstrapMeanCi([0, 2, 4, 6, 8], { seed: 1 });
  const narrow = bootstrapMeanCi([3, 3.5, 4, 4.5, 5], { seed: 1 });
  t.true(wide.hi - wide.lo > 2 * (narrow.hi - narrow.lo));
});

test('ranks share ties; Spearman is +-1 for monotone pairs and skips missing values', (t) => {
  t.deepEqual(ranks([10, 20, 20, 30]), [1, 2.5, 2.5, 4]);
  t.is(spearman([1, 2, 3, 4], [10, 100, 1000, 1e4]).rho, 1);
  t.is(spearman([1, 2, 3], [3, 2, 1]).rho, -1);
  // rho = 1 - 6 sum d^2 / (n (n^2 - 1)): ranks (1,2,3,4) vs (2,1,4,3), d^2 sum 4 -> 1 - 24/60 = 0.6
  t.is(Number(spearman([1, 2, 3, 4], [2, 1, 4, 3]).rho.toFixed(10)), 0.6);
  t.deepEqual(spearman([1, 2, NaN, 4, 5], [1, 2, 3, NaN, 5]), { rho: 1, n: 3 });
  t.true(Number.isNaN(spearman([1, 1, 1], [1, 2, 3]).rho), 'a constant side has no rank correlation');
});

test('Pareto front: the non-dominated points for min x, max y', (t) => {
  const pts = [
    { x: 1, y: 1 }, // front: lowest x
    { x: 2, y: 3 }, // front
    { x: 3, y: 2 }, // dominated by (2, 3)
    { x: 4, y: 5 }, // front: highest y
    { x: 4, y: 4 }, // dominated by (4, 5)
    { x: NaN, y: 9 }, // no value: not on it
  ];
  t.deepEqual(paretoFront(pts, { x: 'min', y: 'max' }), [0, 1, 3]);
  t.deepEqual(paretoFront(pts, { x: 'max', y: 'max' }), [3]);
});

test('the interval over seeds is honest for small n: the range for 2 seeds, a 95% t interval from 3, none for 1', (t) => {
  // two seeds: the old report called their range a 95% bootstrap interval; now it is labelled a range
  t.deepEqual(seedInterval([3, 1]), { n: 2, mean: 2, lo: 1, hi: 3, kind: 'range' });
  // three seeds 40, 41, 42: s = 1, t(0.975, 2) = 4.303: 41 +- 4.303 / sqrt(3) (a bootstrap gave about [40, 42])
  const c = seedInterval([40, 41, 42, NaN]);
  t.is(c.n, 3);
  t.is(c.kind, 't95');
  t.true(Math.abs(c.lo - (41 - 4.303 / Math.sqrt(3))) < 1e-9 && Math.abs(c.hi - (41 + 4.303 / Math.sqrt(3))) < 1e-9, `[${c.lo}, ${c.hi}]`);
  t.like(seedInterval([5]), { n: 1, mean: 5, kind: 'none' });
  t.true(Number.isNaN(seedInterval([5]).lo));
  t.is(tQuantile975(1), 12.706);
  t.true(Math.abs(tQuantile975(1000) - 1.96) < 0.01);
  t.is(intervalText(seedInterval([3, 1])), 'range [1, 3] n=2');
  t.is(intervalText(seedInterval([1, 2, 3])), '[-0.484, 4.48] t95 n=3');
});
