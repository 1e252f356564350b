import test from 'ava';
import { createHash } from 'node:crypto';
import { openDataset } from '../../src/data/index.js';
import { hueToRgb, Shapes3dDataset } from '../../src/data/shapes3d.js';

test('shapes3d factor grid: the six factors of 3D Shapes with its sizes, RGB images', (t) => {
  const ds = openDataset('shapes3d');
  t.deepEqual(
    ds.factors.map((f) => [f.name, f.size]),
    [
      ['floor_hue', 10],
      ['wall_hue', 10],
      ['object_hue', 10],
      ['scale', 8],
      ['shape', 4],
      ['orientation', 15],
    ],
  );
  t.is(ds.size, 480000);
  t.is(ds.channels, 3);
  t.is(ds.imageSize, 64);
  t.deepEqual(ds.factors[4]?.labels, ['cube', 'cylinder', 'sphere', 'capsule']);
  t.deepEqual(ds.factorsOf(ds.indexOf([9, 2, 4, 3, 2, 7])), [9, 2, 4, 3, 2, 7]);
});

const COMBOS = [
  [0, 0, 0, 0, 0, 0],
  [1, 5, 9, 7, 1, 14],
  [9, 2, 4, 3, 2, 7],
  [4, 8, 1, 0, 3, 3],
];

test('same bytes on every run (pinned hash); the cache returns what a fresh render gives', (t) => {
  const hash = (ds: Shapes3dDataset): string => {
    const h = createHash('sha256');
    for (const c of COMBOS) h.update(ds.pixels(c));
    return h.digest('hex');
  };
  t.is(hash(new Shapes3dDataset({ cacheSize: 0 })), GOLDEN);
  const cached = new Shapes3dDataset();
  t.is(hash(cached), GOLDEN);
  t.is(hash(cached), GOLDEN);
});

/** Mean RGB over a block of pixels. */
function meanRgb(img: Uint8Array, x0: number, y0: number, w: number, h: number): [number, number, number] {
  const sum = [0, 0, 0];
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) for (let c = 0; c < 3; c++) sum[c]! += img[(y * 64 + x) * 3 + c] as number;
  return sum.map((s) => s / (w * h)) as [number, number, number];
}

/** Hue direction: the channel order of a colour (which is largest, which smallest). */
function order(rgb: readonly number[]): string {
  return [0, 1, 2].sort((a, b) => (rgb[b] as number) - (rgb[a] as number)).join('');
}

test('each hue factor colours its own region only: wall at the top, floor at the bottom corners, object in the middle', (t) => {
  const ds = new Shapes3dDataset({ cacheSize: 0 });
  const base = [0, 3, 6, 4, 0, 7];
  const regions = { wall: [2, 2, 12, 8], floor: [1, 56, 8, 6], object: [28, 36, 8, 8] } as const;
  const at = (img: Uint8Array, r: keyof typeof regions): [number, number, number] => {
    const [x, y, w, h] = regions[r];
    return meanRgb(img, x, y, w, h);
  };
  const img = ds.pixels(base);
  t.is(order(at(img, 'floor')), order(hueToRgb(0)), 'floor shows the floor hue');
  t.is(order(at(img, 'wall')), order(hueToRgb(0.3)), 'wall shows the wall hue');
  t.is(order(at(img, 'object')), order(hueToRgb(0.6)), 'object shows the object hue');
  for (const [factor, region] of [[0, 'floor'], [1, 'wall'], [2, 'object']] as const) {
    const other = [...base];
    other[factor] = (base[factor] as number) + 2;
    const img2 = ds.pixels(other);
    for (const r of Object.keys(regions) as (keyof typeof regions)[]) {
      const changed = at(img, r).some((v, c) => Math.abs(v - (at(img2, r)[c] as number)) > 4);
      t.is(changed, r === region, `changing factor ${factor} changes the ${r}: ${String(r === region)}`);
    }
  }
});

test('scale, shape and orientation change the object; the cube shows its turn', (t) => {
  const ds = new Shapes3dDataset({ cacheSize: 0 });
  const base = [0, 3, 6, 4, 0, 0];
  const count = (a: Uint8Array, b: Uint8Array): number => a.reduce((n, v, i) => n + (v !== b[i] ? 1 : 0), 0);
  for (const [f, v] of [[3, 7], [4, 2], [5, 14]] as const) {
    const other = [...base];
    other[f] = v;
    t.true(count(ds.pixels(base), ds.pixels(other)) > 100, `factor ${f} changes the image`);
  }
});

const GOLDEN = 'bf9e792d45a285394ca90e1f837d8355e01f7bbdfe15f8872b2e7cc758e6c3e3';
