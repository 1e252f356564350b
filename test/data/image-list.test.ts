// Users' files that are lists of images: labelled .npz files whose factors do not form a complete grid, .npz images
// without factors, and folders of PNG/JPEG images; their samplers, preview and metrics.
import test from 'ava';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { previewGrid } from '../../src/data/cli.js';
import { createSampler, openDataset, type FactorDataset } from '../../src/data/index.js';
import { evaluateRepresentation } from '../../src/metrics/evaluate.js';
import { float64Bytes, int64Bytes, npy, zip } from '../helpers/npz.js';

const dir = mkdtempSync(join(tmpdir(), 'dcign-list-'));
/** The folder test's own cache (ava runs a file's tests concurrently, and it counts the entries). */
const cacheDir = join(dir, 'cache');
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
function file(bytes: Uint8Array): string {
  const path = join(dir, `f${counter++}.npz`);
  writeFileSync(path, bytes);
  return path;
}

/** Factor classes (a in 0..2, b in 0..3) of 10 images: 9 of the 12 combinations, (1, 2) twice; (0, 3), (2, 0), (2, 3) absent. */
const ROWS = [
  [0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2], [1, 3], [2, 1], [2, 2], [1, 2],
];
const SIDE = 4;

/** Image r is filled with the value r + 1 (0..255 scale), so a rendered image tells which row it came from. */
function labelledNpz(): string {
  const n = ROWS.length;
  const imgs = new Uint8Array(n * SIDE * SIDE);
  for (let r = 0; r < n; r++) imgs.fill(r + 1, r * SIDE * SIDE, (r + 1) * SIDE * SIDE);
  imgs[0] = 255; // values above 1: the file stores 0..255
  const classes = ROWS.flat();
  return file(
    zip([
      { name: 'imgs.npy', data: npy('|u1', [n, SIDE, SIDE], imgs) },
      { name: 'latents_classes.npy', data: npy('<i8', [n, 2], int64Bytes(classes)) },
      { name: 'latents_values.npy', data: npy('<f8', [n, 2], float64Bytes(classes.map((c) => c / 10))) },
    ]),
  );
}

/** Which row an image came from (its last pixel, which no row overwrites). */
function rowOf(images: Float32Array, i: number): number {
  return Math.round((images[(i + 1) * SIDE * SIDE - 1] as number) * 255) - 1;
}

test('an incomplete grid opens as a list: factors, values, images by position and by combination', (t) => {
  const ds = openDataset(`npz:${labelledNpz()}`);
  t.truthy(ds.list);
  t.is(ds.size, 10);
  t.deepEqual(ds.factors.map((f) => [f.name, f.size]), [['factor0', 3], ['factor1', 4]]);
  t.deepEqual(ds.factors[1]?.values, [0, 0.1, 0.2, 0.3]);
  t.deepEqual(ds.factorsOf(6), [1, 3]);
  t.is(ds.indexOf([1, 2]), 5, 'the first of the two images with (1, 2)');
  t.throws(() => ds.indexOf([2, 0]), { message: /has no image with factor indices \(2, 0\)/ });
  t.deepEqual(ds.list?.siblings(4, 1), [3, 4, 5, 6, 9], 'images with factor0 = 1, any factor1');
  t.deepEqual(ds.list?.withFactor(0, 2), [7, 8]);
  const out = new Float32Array(SIDE * SIDE);
  ds.list?.renderImage(7, out, 0);
  t.is(rowOf(out, 0), 7);
});

test('iid over a list draws images, deterministic in the seed, each with its own factors', (t) => {
  const ds = openDataset(`npz:${labelledNpz()}`);
  const draw = (seed: number): number[][] => {
    const sampler = createSampler(ds, { kind: 'iid', batchSize: 16, seed });
    const batch = sampler.next();
    const rows = Array.from({ length: 16 }, (_, i) => rowOf(batch.images, i));
    rows.forEach((r, i) => t.deepEqual(batch.factors[i], ROWS[r]));
    return [rows];
  };
  t.deepEqual(draw(3), draw(3));
  t.notDeepEqual(draw(3), draw(4));
  const seen = new Set(draw(5)[0]);
  t.true(seen.size >= 5, 'a batch of 16 covers several images');
});

test('dcign over a list: each batch is a group of images that differ in the varied factor alone; restore resumes', (t) => {
  const ds = openDataset(`npz:${labelledNpz()}`);
  const sampler = createSampler(ds, { kind: 'dcign', batchSize: 6, seed: 2 });
  const varied = new Set<number>();
  for (let step = 0; step < 20; step++) {
    const batch = sampler.next();
    const f = batch.variedFactor as number;
    varied.add(f);
    const rows = Array.from({ length: 6 }, (_, i) => rowOf(batch.images, i));
    rows.forEach((r, i) => t.deepEqual(batch.factors[i], ROWS[r]));
    const fixed = batch.factors.map((c) => c.filter((_, k) => k !== f).join(','));
    t.is(new Set(fixed).size, 1, 'every factor but the varied one is the same');
    t.true(new Set(rows).size > 1, 'the batch holds more than one image');
  }
  t.deepEqual([...varied].sort(), [0, 1], 'both factors get varied');
  const again = createSampler(ds, { kind: 'dcign', batchSize: 6, seed: 2 });
  again.restore({ ...sampler.position(), step: 19 });
  const resumed = createSampler(ds, { kind: 'dcign', batchSize: 6, seed: 2 });
  for (let i = 0; i < 19; i++) resumed.next();
  t.deepEqual(again.next().factors, resumed.next().factors);
});

test('dcign refuses a factor no two images differ in alone, and unlabelled images', (t) => {
  // factor0 differs between images only together with factor1: no group varies factor0 alone.
  const imgs = new Uint8Array(3 * 4);
  const classes = [0, 0, 1, 1, 2, 2];
  const path = file(
    zip([
      { name: 'imgs.npy', data: npy('|u1', [3, 2, 2], imgs) },
      { name: 'latents_classes.npy', data: npy('<i8', [3, 2], int64Bytes(classes)) },
    ]),
  );
  const ds = openDataset(`npz:${path}`);
  t.throws(() => createSampler(ds, { kind: 'dcign', batchSize: 2, seed: 0 }), {
    message: /no two images that differ in one factor alone.*use the iid sampler/,
  });
  t.throws(() => createSampler(ds, { kind: 'dcign', batchSize: 2, seed: 0, variedFactor: 'factor0' }), {
    message: /no two images that differ in 'factor0' alone/,
  });
  t.is(createSampler(ds, { kind: 'iid', batchSize: 2, seed: 0 }).next().batchSize, 2);
});

function unicodeNames(names: readonly string[], width: number): Uint8Array {
  const b = Buffer.alloc(names.length * width * 4);
  names.forEach((name, i) => [...name].forEach((ch, j) => b.writeUInt32LE(ch.codePointAt(0) as number, (i * width + j) * 4)));
  return b;
}

test('per-image values alone: classes are the ranks of the distinct values; factor_names name the factors; RGB images', (t) => {
  const n = 5;
  const values = [0.7, 10, 0.1, 10, 0.7, 20, 0.1, 20, 0.3, 10];
  const path = file(
    zip([
      { name: 'imgs.npy', data: npy('|u1', [n, 2, 2, 3], new Uint8Array(n * 12).fill(200)) },
      { name: 'latents_values.npy', data: npy('<f8', [n, 2], float64Bytes(values)) },
      { name: 'factor_names.npy', data: npy('<U5', [2], unicodeNames(['size', 'speed'], 5)) },
    ]),
  );
  const ds = openDataset(`npz:${path}`);
  t.is(ds.channels, 3);
  t.deepEqual(ds.factors.map((f) => f.name), ['size', 'speed']);
  t.deepEqual(ds.factors[0]?.values, [0.1, 0.3, 0.7]);
  t.deepEqual(ds.factors[1]?.values, [10, 20]);
  t.deepEqual([0, 1, 2, 3, 4].map((i) => ds.factorsOf(i)), [[2, 0], [0, 0], [2, 1], [0, 1], [1, 0]]);
  const out = new Float32Array(12);
  ds.list?.renderImage(3, out, 0);
  t.true(out.every((v) => Math.abs(v - 200 / 255) < 1e-6));
});

test('bad labelled files: each with a message that names the problem', (t) => {
  const imgs = npy('|u1', [2, 2, 2], new Uint8Array(8));
  const open = (entries: { name: string; data: Uint8Array }[]): FactorDataset => openDataset(`npz:${file(zip(entries))}`);
  t.throws(() => open([{ name: 'imgs.npy', data: imgs }, { name: 'latents_values.npy', data: npy('<f8', [2, 1], float64Bytes([0, NaN])) }]), {
    message: /latents_values\[1, 0\] = NaN; factor values must be finite/,
  });
  t.throws(() => open([{ name: 'imgs.npy', data: imgs }, { name: 'latents_values.npy', data: npy('<f8', [3, 1], float64Bytes([0, 1, 2])) }]), {
    message: /array shapes disagree: imgs \(2, 2, 2\), latents_values \(3, 1\)/,
  });
  t.throws(() => open([{ name: 'imgs.npy', data: npy('|u1', [2, 2, 2, 2], new Uint8Array(16)) }]), {
    message: /array 'imgs' has 2 channels .* use 1 \(grey\) or 3 \(RGB\)/,
  });
  const names = npy('<U1', [2], unicodeNames(['a', 'a'], 1));
  t.throws(
    () => open([{ name: 'imgs.npy', data: imgs }, { name: 'latents_classes.npy', data: npy('<i8', [2, 2], int64Bytes([0, 0, 1, 1])) }, { name: 'factor_names.npy', data: names }]),
    { message: /'factor_names' must be distinct and non-empty/ },
  );
  t.throws(() => open([{ name: 'imgs.npy', data: imgs }, { name: 'factor_names.npy', data: names }]), {
    message: /'factor_names' is given but no factors/,
  });
});

test('images without factors: an unlabelled list that iid batches draw from; combinations cannot address it', (t) => {
  const n = 6;
  const imgs = new Uint8Array(n * 4).map((_, i) => Math.floor(i / 4) * 40);
  const ds = openDataset(`npz:${file(zip([{ name: 'imgs.npy', data: npy('|u1', [n, 2, 2], imgs) }]))}`);
  t.deepEqual(ds.factors, []);
  t.is(ds.size, 6);
  const batch = createSampler(ds, { kind: 'iid', batchSize: 8, seed: 1 }).next();
  t.deepEqual(batch.factors, Array.from({ length: 8 }, () => []));
  t.true(batch.images.every((v) => [0, 40, 80, 120, 160, 200].some((p) => Math.abs(v * 255 - p) < 1e-3)));
  t.throws(() => createSampler(ds, { kind: 'dcign', batchSize: 2, seed: 0 }), { message: /is unlabelled \(no factors\).*use the iid sampler/ });
  t.throws(() => ds.render([], new Float32Array(4), 0), { message: /is unlabelled: it has no factors, so images are addressed by position only/ });
  const { rows } = previewGrid(ds, { columns: 3 });
  t.deepEqual(rows, ['images', 'images', 'images', 'images']);
});

async function writeImages(folder: string): Promise<void> {
  mkdirSync(folder, { recursive: true });
  const colours = [[255, 0, 0], [0, 255, 0], [0, 0, 255]] as const;
  for (const [i, [r, g, b]] of colours.entries()) {
    // Wide images: the centre square is kept; the left and right quarters are another colour and get cropped away.
    const w = 40;
    const h = 20;
    const data = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) data.set(x >= 10 && x < 30 ? [r, g, b] : [255, 255, 255], (y * w + x) * 3);
    }
    const img = sharp(data, { raw: { width: w, height: h, channels: 3 } });
    await (i === 2 ? img.jpeg({ quality: 95 }) : img.png()).toFile(join(folder, `img${i}.${i === 2 ? 'jpg' : 'png'}`));
  }
  writeFileSync(join(folder, 'notes.txt'), 'not an image, ignored');
}

test('a folder of PNG/JPEG images: resized once into the cache, then read from it', async (t) => {
  const folder = join(dir, 'pics');
  await writeImages(folder);
  const ds = openDataset(`images:${folder}`, { imageSize: 8, cacheDir });
  t.is(ds.size, 3);
  t.is(ds.channels, 3);
  t.is(ds.imageSize, 8);
  t.deepEqual(ds.factors, []);
  const out = new Float32Array(8 * 8 * 3);
  for (const [i, channel] of [[0, 0], [1, 1], [2, 2]] as const) {
    ds.list?.renderImage(i, out, 0);
    const mean = [0, 1, 2].map((c) => out.filter((_, j) => j % 3 === c).reduce((a, b) => a + b, 0) / 64);
    t.true((mean[channel] as number) > 0.9 && mean.every((m, c) => c === channel || m < 0.1), `image ${i}: ${mean.join(', ')}`);
  }
  const cached = readdirSync(cacheDir).filter((f) => f.endsWith('.u8'));
  t.is(cached.length, 1);
  const written = statSync(join(cacheDir, cached[0] as string)).mtimeMs;
  const again = openDataset(`images:${folder}`, { imageSize: 8, cacheDir });
  t.is(statSync(join(cacheDir, cached[0] as string)).mtimeMs, written, 'the second open reads the cache');
  t.is(again.size, 3);
  openDataset(`images:${folder}`, { imageSize: 16, cacheDir });
  t.is(readdirSync(cacheDir).filter((f) => f.endsWith('.u8')).length, 2, 'another size is another cache entry');
});

test('grey images give a one-channel dataset', async (t) => {
  const folder = join(dir, 'grey');
  mkdirSync(folder);
  const grey = sharp(Buffer.alloc(64, 128), { raw: { width: 8, height: 8, channels: 1 } }).toColourspace('b-w');
  await grey.png().toFile(join(folder, 'a.png'));
  const ds = openDataset(`images:${folder}`, { imageSize: 8, cacheDir: join(dir, 'cache-grey') });
  t.is(ds.channels, 1);
  const out = new Float32Array(64);
  ds.list?.renderImage(0, out, 0);
  t.true(out.every((v) => Math.abs(v - 128 / 255) < 0.01));
});

test('bad image folders: missing, a file, empty, an undecodable image', (t) => {
  t.throws(() => openDataset(`images:${join(dir, 'nope')}`), { message: /image folder .*nope does not exist; give a folder of \.png or \.jpg images/ });
  const plain = join(dir, 'plain.txt');
  writeFileSync(plain, 'x');
  t.throws(() => openDataset(`images:${plain}`), { message: /is not a folder/ });
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  t.throws(() => openDataset(`images:${empty}`), { message: /has no \.png, \.jpg or \.jpeg files/ });
  t.throws(() => openDataset('images:'), { message: /needs a folder/ });
  const broken = join(dir, 'broken');
  mkdirSync(broken);
  writeFileSync(join(broken, 'bad.png'), 'this is not a png');
  t.throws(() => openDataset(`images:${broken}`, { cacheDir: join(dir, 'cache-broken') }), { message: /bad\.png: cannot be decoded as an image/ });
});

/** A representation that reads an image's row back from its pixels: two latents, the row's factor classes. */
function rowRepresentation(images: Float32Array, n: number): Promise<number[][]> {
  return Promise.resolve(Array.from({ length: n }, (_, i) => [...(ROWS[rowOf(images, i)] as number[])]));
}

test('metrics on an incomplete grid sample present images; BetaVAE and FactorVAE pair images sharing a value', async (t) => {
  const ds = openDataset(`npz:${labelledNpz()}`);
  const result = await evaluateRepresentation({
    dataset: ds,
    represent: rowRepresentation,
    numTrain: 200,
    numTest: 100,
    samplingTrain: 100,
    samplingEval: 50,
    batchSize: 16,
    seed: 0,
  });
  t.deepEqual(result.errors, {});
  t.deepEqual(result.skipped, {});
  t.true((result.metrics['mig'] as number) > 0.5, `a perfect code has a high MIG (${result.metrics['mig']})`);
  t.true((result.metrics['beta_vae_eval'] as number) > 0.9, `BetaVAE ${result.metrics['beta_vae_eval']}`);
  t.true((result.metrics['factor_vae_eval'] as number) > 0.9, `FactorVAE ${result.metrics['factor_vae_eval']}`);
});

test('metrics on unlabelled images: active units only, every factor metric skipped with the reason', async (t) => {
  const n = 6;
  const imgs = new Uint8Array(n * 4).map((_, i) => Math.floor(i / 4) * 40);
  const ds = openDataset(`npz:${file(zip([{ name: 'imgs.npy', data: npy('|u1', [n, 2, 2], imgs) }]))}`);
  const seen: string[] = [];
  const result = await evaluateRepresentation({
    dataset: ds,
    represent: (images, k) => Promise.resolve(Array.from({ length: k }, (_, i) => [images[i * 4] as number, 0])),
    numTrain: 50,
    seed: 0,
    onMetric: (name) => seen.push(name),
  });
  t.deepEqual(result.metrics, { active_units: 1 });
  t.deepEqual(Object.keys(result.skipped).sort(), ['beta_vae', 'dci', 'explicitness', 'factor_vae', 'irs', 'mig', 'sap']);
  t.regex(result.skipped['mig'] as string, /is unlabelled \(no ground-truth factors\).*UDR: dcign udr <sweep>/);
  t.deepEqual(seen, ['mig', 'sap', 'explicitness', 'dci', 'irs', 'active_units', 'beta_vae', 'factor_vae']);
});
