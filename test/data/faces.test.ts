import test from 'ava';
import { createHash } from 'node:crypto';
import { faceShape } from '../../src/data/face-mesh.js';
import { FacesDataset } from '../../src/data/faces.js';
import { openDataset } from '../../src/data/index.js';

const DEG = Math.PI / 180;
const near = (a: number | undefined, b: number): boolean => Math.abs((a ?? NaN) - b) < 1e-12;

test('faces factor grid: identity, azimuth, elevation, light on fixed grids', (t) => {
  const ds = openDataset('faces');
  t.deepEqual(
    ds.factors.map((f) => [f.name, f.size]),
    [
      ['identity', 10],
      ['azimuth', 15],
      ['elevation', 7],
      ['light', 9],
    ],
  );
  t.is(ds.size, 9450);
  t.is(ds.imageSize, 64);
  t.is(ds.channels, 1);
  t.true(near(ds.factors[1]?.values[0], -90 * DEG) && near(ds.factors[1]?.values[7], 0) && near(ds.factors[1]?.values[14], 90 * DEG));
  t.true(near(ds.factors[2]?.values[0], -30 * DEG) && near(ds.factors[2]?.values[6], 30 * DEG));
  t.true(near(ds.factors[3]?.values[0], -80 * DEG) && near(ds.factors[3]?.values[8], 80 * DEG));
  t.deepEqual(ds.factorsOf(ds.indexOf([3, 14, 6, 8])), [3, 14, 6, 8]);
});

const COMBOS = [
  [0, 7, 3, 4],
  [3, 0, 0, 0],
  [5, 14, 6, 8],
  [9, 4, 2, 1],
];

test('same bytes on every run (pinned hash); the cache returns what a fresh render gives', (t) => {
  const hash = (ds: FacesDataset): string => {
    const h = createHash('sha256');
    for (const c of COMBOS) h.update(ds.pixels(c));
    return h.digest('hex');
  };
  t.is(hash(new FacesDataset({ cacheSize: 0 })), GOLDEN);
  const cached = new FacesDataset();
  t.is(hash(cached), GOLDEN);
  t.is(hash(cached), GOLDEN);
  const out = new Float32Array(64 * 64);
  cached.render(COMBOS[0] as number[], out, 0);
  t.true(out.every((v) => v >= 0 && v <= 1));
  t.true(out.some((v) => v > 0.3), 'a lit face is visible');
});

test('identities differ in shape; each factor changes the image', (t) => {
  t.notDeepEqual(faceShape(0), faceShape(1));
  t.deepEqual(faceShape(4), faceShape(4), 'an identity is a fixed function of its index');
  const ds = new FacesDataset({ cacheSize: 0 });
  const base = [2, 7, 3, 4];
  const differs = (a: Uint8Array, b: Uint8Array): number => a.reduce((n, v, i) => n + (Math.abs(v - (b[i] as number)) > 8 ? 1 : 0), 0);
  for (let f = 0; f < 4; f++) {
    const other = [...base];
    other[f] = f === 0 ? 7 : 0;
    t.true(differs(ds.pixels(base), ds.pixels(other)) > 50, `factor ${f} changes more than 50 pixels`);
  }
});

test('light from the left brightens the left half; azimuth turns the face', (t) => {
  const ds = new FacesDataset({ cacheSize: 0 });
  const half = (img: Uint8Array, left: boolean): number => {
    let sum = 0;
    for (let y = 0; y < 64; y++) for (let x = left ? 0 : 32; x < (left ? 32 : 64); x++) sum += img[y * 64 + x] as number;
    return sum;
  };
  const fromLeft = ds.pixels([1, 7, 3, 0]);
  const fromRight = ds.pixels([1, 7, 3, 8]);
  t.true(half(fromLeft, true) > half(fromLeft, false));
  t.true(half(fromRight, false) > half(fromRight, true));
  // A frontal face is nearly symmetric; a face turned by 90 degrees is not.
  const asymmetry = (img: Uint8Array): number => {
    let d = 0;
    for (let y = 0; y < 64; y++) for (let x = 0; x < 32; x++) d += Math.abs((img[y * 64 + x] as number) - (img[y * 64 + 63 - x] as number));
    return d;
  };
  const frontal = ds.pixels([1, 7, 3, 4]);
  const profile = ds.pixels([1, 14, 3, 4]);
  t.true(asymmetry(profile) > 2 * asymmetry(frontal));
});

test('larger sizes render; bad sizes are refused with the range', (t) => {
  const big = openDataset('faces', { imageSize: 96 });
  const out = new Float32Array(96 * 96);
  big.render([0, 7, 3, 4], out, 0);
  t.true(out.some((v) => v > 0.3));
  t.throws(() => openDataset('faces', { imageSize: 8 }), { message: /faces imageSize must be an integer in \[16, 512\], got 8/ });
});

const GOLDEN = '1fe6706a7231b10f8d24e046087d21447e2b30273008a10e7d7a60f277176dde';
