import test from 'ava';
import { createHash } from 'node:crypto';
import { openDataset } from '../../src/data/index.js';
import { DspritesDataset } from '../../src/data/dsprites.js';
import { dcos, dsin } from '../../src/data/detmath.js';

function hashImages(ds: DspritesDataset, indices: readonly number[]): string {
  const n = ds.imageSize * ds.imageSize;
  const out = new Float32Array(indices.length * n);
  indices.forEach((idx, i) => ds.render(ds.factorsOf(idx), out, i * n));
  return createHash('sha256').update(new Uint8Array(out.buffer)).digest('hex');
}

test('dsprites factor grid: sizes and values', (t) => {
  const ds = openDataset('dsprites');
  t.is(ds.imageSize, 64);
  t.is(ds.channels, 1);
  t.deepEqual(
    ds.factors.map((f) => [f.name, f.size]),
    [
      ['shape', 3],
      ['scale', 6],
      ['orientation', 40],
      ['posX', 32],
      ['posY', 32],
    ],
  );
  t.is(ds.size, 737280);
  const [shape, scale, orient, posX] = ds.factors;
  t.deepEqual(shape?.labels, ['square', 'ellipse', 'heart']);
  t.deepEqual(scale?.values, [0.5, 0.6, 0.7, 0.8, 0.9, 1]);
  t.is(orient?.values[0], 0);
  t.true(Math.abs((orient?.values[39] ?? 0) - (2 * Math.PI * 39) / 40) < 1e-12);
  t.true((orient?.values[39] ?? 7) < 2 * Math.PI);
  t.is(posX?.values[0], 0);
  t.is(posX?.values[31], 1);
});

test('flat index and factor indices are inverse; bad indices are refused', (t) => {
  const ds = openDataset('dsprites');
  for (const idx of [0, 1, 31, 32, 1023, 40959, 737279, 123456]) t.is(ds.indexOf(ds.factorsOf(idx)), idx);
  t.deepEqual(ds.factorsOf(737279), [2, 5, 39, 31, 31]);
  t.throws(() => ds.factorsOf(737280), { message: /outside \[0, 737280\)/ });
  t.throws(() => ds.indexOf([3, 0, 0, 0, 0]), { message: /factor 'shape' index 3/ });
  t.throws(() => ds.indexOf([0, 0, 0]), { message: /expected 5 factor indices/ });
});

test('images are binary, non-empty, inside the frame; scale grows the area', (t) => {
  const ds = new DspritesDataset();
  const area = (f: number[]): number => ds.pixels(f).reduce((a, b) => a + b, 0);
  for (let shape = 0; shape < 3; shape++) {
    const px = ds.pixels([shape, 5, 7, 0, 31]);
    t.true(px.every((v) => v === 0 || v === 1));
    t.true(area([shape, 0, 0, 16, 16]) > 20);
    t.true(area([shape, 5, 0, 16, 16]) > 2.5 * area([shape, 0, 0, 16, 16]));
  }
});

test('position moves the shape: centroid follows posX and posY', (t) => {
  const ds = new DspritesDataset();
  const centroid = (f: number[]): [number, number] => {
    const px = ds.pixels(f);
    let sx = 0;
    let sy = 0;
    let n = 0;
    px.forEach((v, i) => {
      if (v) {
        sx += i % 64;
        sy += Math.floor(i / 64);
        n++;
      }
    });
    return [sx / n, sy / n];
  };
  const [x0, y0] = centroid([0, 3, 0, 0, 0]);
  const [x1, y1] = centroid([0, 3, 0, 31, 31]);
  t.true(x1 - x0 > 30 && y1 - y0 > 30);
});

test('same bytes on every run (pinned hash), at 64 and 32 pixels', (t) => {
  const indices = [0, 777, 40000, 123457, 500000, 737279];
  // Pinned: a change here means every stored dataset, checkpoint and metric baseline changes too.
  t.is(hashImages(new DspritesDataset(), indices), GOLDEN_64);
  t.is(hashImages(new DspritesDataset({ imageSize: 32 }), indices), GOLDEN_32);
  // The cache returns what a fresh render gives.
  const cached = new DspritesDataset({ cacheSize: 2 });
  t.is(hashImages(cached, indices), GOLDEN_64);
  t.is(hashImages(cached, indices), GOLDEN_64);
});

test('dsprites-small is a 32x32 grid of 4,608 combinations; imageSize option renders at 32', (t) => {
  const small = openDataset('dsprites-small');
  t.is(small.imageSize, 32);
  t.is(small.size, 3 * 3 * 8 * 8 * 8);
  t.is(openDataset('dsprites', { imageSize: 32 }).imageSize, 32);
  t.throws(() => openDataset('nope'), { message: /unknown dataset 'nope'; known: dsprites/ });
  t.throws(() => openDataset('toString'), { message: /unknown dataset 'toString'/ });
});

test('deterministic trigonometry agrees with Math to 1e-13', (t) => {
  for (let i = -100; i <= 100; i++) {
    const x = i * 0.173;
    t.true(Math.abs(dsin(x) - Math.sin(x)) < 1e-13, `sin ${x}`);
    t.true(Math.abs(dcos(x) - Math.cos(x)) < 1e-13, `cos ${x}`);
  }
});

const GOLDEN_64 = 'a284130b17ea58603a4e1129c8ae87de61ec01f9320dae6a5a664c41a7999d78';
const GOLDEN_32 = '666101389e21df753956853ce93bdc54c095e0ff7b500c10ff25c10b5c3334c9';
