import test from 'ava';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSampler, openDataset } from '../../src/data/index.js';
import { NpzDataset, openNpz } from '../../src/data/npz.js';
import { dspritesLikeNpz, float64Bytes, int64Bytes, npy, zip } from '../helpers/npz.js';

const dir = mkdtempSync(join(tmpdir(), 'dcign-npz-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
function file(bytes: Uint8Array): string {
  const path = join(dir, `f${counter++}.npz`);
  writeFileSync(path, bytes);
  return path;
}

const variants = [
  { label: 'stored', opts: {} },
  { label: 'deflated', opts: { deflate: true } },
  { label: 'zip64, shuffled rows', opts: { zip64: true, shuffle: true } },
  { label: 'deflated, zip64, shuffled', opts: { deflate: true, zip64: true, shuffle: true } },
];

for (const { label, opts } of variants) {
  test(`round trip (${label}): factors, values and every image`, (t) => {
    const fixture = dspritesLikeNpz(opts);
    const ds = openDataset(`npz:${file(fixture.bytes)}`);
    t.is(ds.imageSize, 8);
    t.deepEqual(
      ds.factors.map((f) => [f.name, f.size]),
      [
        ['shape', 3],
        ['scale', 2],
        ['orientation', 2],
        ['posX', 2],
        ['posY', 2],
      ],
      'constant colour dropped',
    );
    t.deepEqual(ds.factors[0]?.values, [1, 2, 3]);
    t.deepEqual(ds.factors[1]?.values, [0.5, 1]);
    t.deepEqual(ds.factors[2]?.values, [0, Math.PI]);
    t.is(ds.size, 48);
    const out = new Float32Array(64);
    for (const row of fixture.rows) {
      ds.render(row.classes.slice(1), out, 0);
      t.deepEqual([...out], [...row.image]);
    }
  });
}

test('large deflated members are inflated once into the cache and read by offset', (t) => {
  const fixture = dspritesLikeNpz({ deflate: true, imageSize: 16 });
  const path = file(fixture.bytes);
  const cacheDir = join(dir, 'cache');
  const a = openNpz(path, { inMemoryLimitBytes: 0, cacheDir });
  const files = readdirSync(cacheDir).sort();
  t.is(files.length, 3);
  t.true(files.every((f) => f.endsWith('.npy')));
  const b = openNpz(path, { inMemoryLimitBytes: 0, cacheDir });
  t.deepEqual(readdirSync(cacheDir).sort(), files, 'second open reuses the cache');
  const out = new Float32Array(256);
  for (const row of fixture.rows) {
    for (const ds of [a, b]) {
      ds.render(row.classes.slice(1), out, 0);
      t.deepEqual([...out], [...row.image]);
    }
  }
  t.true(a instanceof NpzDataset && b instanceof NpzDataset, 'a complete grid opens as a grid dataset');
  (a as NpzDataset).close();
  (b as NpzDataset).close();
});

test('a sampler runs over an npz dataset', (t) => {
  const ds = openDataset(`npz:${file(dspritesLikeNpz().bytes)}`);
  const batch = createSampler(ds, { kind: 'dcign', batchSize: 4, seed: 1, variedFactor: 'shape' }).next();
  t.is(batch.images.length, 4 * 64);
  t.is(batch.variedFactor, 0);
});

test('images stored as 0..255 are scaled to [0, 1]', (t) => {
  const imgs = new Uint8Array(2 * 4).fill(255);
  imgs[0] = 0;
  const bytes = zip([
    { name: 'imgs.npy', data: npy('|u1', [2, 2, 2], imgs) },
    { name: 'latents_classes.npy', data: npy('<i8', [2, 1], int64Bytes([0, 1])) },
    { name: 'latents_values.npy', data: npy('<f8', [2, 1], float64Bytes([0, 1])) },
  ]);
  const ds = openDataset(`npz:${file(bytes)}`);
  const out = new Float32Array(4);
  ds.render([0], out, 0);
  t.deepEqual([...out], [0, 1, 1, 1]);
  t.is(ds.factors[0]?.name, 'factor0');
});

// ---- bad inputs, each with its own clear message

/** A complete 2 x 2 grid of latent classes, row-major; then two broken variants. */
const GRID = [0, 0, 0, 1, 1, 0, 1, 1];
const REPEATED = [0, 0, 0, 1, 1, 0, 0, 1];
const GAPPED = [0, 0, 0, 1, 1, 0, 2, 1];
const NEGATIVE = [0, 0, 0, -1, 1, 0, 1, 1];
/** Latent values where class 0 of latent 0 has two values. */
const CLASH = [0, 0, 0.5, 1, 1, 0, 1, 1];

type ArrayName = 'imgs' | 'latents_classes' | 'latents_values';

function fixtureWith(replace: Partial<Record<ArrayName, Uint8Array | null>>): string {
  const n = 4;
  const arrays: Record<string, Uint8Array> = {
    imgs: npy('|u1', [n, 2, 2], new Uint8Array(n * 4)),
    latents_classes: npy('<i8', [n, 2], int64Bytes(GRID)),
    latents_values: npy('<f8', [n, 2], float64Bytes(GRID)),
  };
  const entries = Object.entries({ ...arrays, ...replace })
    .filter((e): e is [string, Uint8Array] => e[1] !== null)
    .map(([name, data]) => ({ name: `${name}.npy`, data }));
  return file(zip(entries));
}

test('the base bad-input fixture itself opens', (t) => {
  t.is(openDataset(`npz:${fixtureWith({})}`).size, 4);
});

test('missing file', (t) => {
  t.throws(() => openDataset(`npz:${join(dir, 'nope.npz')}`), {
    message: /npz file not found: .*nope\.npz\. Give the path/,
  });
  t.throws(() => openDataset('npz:'), { message: /needs a path/ });
});

test('not an npz (zip) file', (t) => {
  t.throws(() => openDataset(`npz:${file(Buffer.from('just some text, not a zip archive at all'))}`), {
    message: /not an \.npz file: no zip end-of-central-directory record/,
  });
  const truncated = dspritesLikeNpz().bytes;
  t.throws(() => openDataset(`npz:${file(truncated.subarray(0, truncated.length - 30))}`), {
    message: /not an \.npz file|broken zip|truncated/,
  });
});

test('missing images', (t) => {
  t.throws(() => openDataset(`npz:${fixtureWith({ imgs: null })}`), {
    message: /array 'imgs' is missing \(the file has: latents_classes, latents_values\); expected 'imgs' uint8/,
  });
});

test('member that is not an npy array', (t) => {
  t.throws(() => openDataset(`npz:${fixtureWith({ imgs: Buffer.from('hello world, not numpy') })}`), {
    message: /member 'imgs.npy': not an \.npy array \(bad magic\)/,
  });
});

test('unexpected dtype', (t) => {
  t.throws(() => openDataset(`npz:${fixtureWith({ imgs: npy('<f4', [4, 2, 2], new Uint8Array(64)) })}`), {
    message: /array 'imgs' has dtype '<f4', expected '\|u1' or '\|b1'/,
  });
  t.throws(
    () => openDataset(`npz:${fixtureWith({ latents_classes: npy('<f8', [4, 2], float64Bytes(GRID)) })}`),
    { message: /array 'latents_classes' has dtype '<f8', expected '<i8' or '<i4'/ },
  );
});

test('unexpected shape', (t) => {
  t.throws(() => openDataset(`npz:${fixtureWith({ imgs: npy('|u1', [4, 4], new Uint8Array(16)) })}`), {
    message: /array 'imgs' has shape \(4, 4\), expected 3 or 4 dimensions/,
  });
  t.throws(() => openDataset(`npz:${fixtureWith({ imgs: npy('|u1', [4, 2, 3], new Uint8Array(24)) })}`), {
    message: /images must be square/,
  });
  t.throws(() => openDataset(`npz:${fixtureWith({ imgs: npy('|u1', [3, 2, 2], new Uint8Array(12)) })}`), {
    message: /array shapes disagree: imgs \(3, 2, 2\), latents_classes \(4, 2\)/,
  });
  t.throws(() => openDataset(`npz:${fixtureWith({ imgs: npy('|u1', [4, 2, 2], new Uint8Array(10)) })}`), {
    message: /needs \d+ bytes, the member has \d+/,
  });
  t.throws(() => openDataset(`npz:${fixtureWith({ imgs: npy('|u1', [4, 2, 2], new Uint8Array(16), true) })}`), {
    message: /Fortran order/,
  });
});

test('latents that do not form a complete grid open as a list of images; a class with two values is refused', (t) => {
  const repeated = openDataset(`npz:${fixtureWith({ latents_classes: npy('<i8', [4, 2], int64Bytes(REPEATED)), latents_values: npy('<f8', [4, 2], float64Bytes(REPEATED)) })}`);
  t.is(repeated.size, 4, 'four images, though only three distinct combinations');
  t.truthy(repeated.list);
  t.deepEqual(repeated.factorsOf(3), [0, 1]);
  t.is(repeated.indexOf([0, 1]), 1, 'a repeated combination finds its first image');
  const gapped = openDataset(`npz:${fixtureWith({ latents_classes: npy('<i8', [4, 2], int64Bytes(GAPPED)) })}`);
  t.truthy(gapped.list);
  t.deepEqual(gapped.factors.map((f) => f.size), [3, 2]);
  t.throws(() => gapped.indexOf([2, 0]), { message: /has no image with factor indices \(2, 0\)/ });
  t.throws(
    () => openDataset(`npz:${fixtureWith({ latents_values: npy('<f8', [4, 2], float64Bytes(CLASH)) })}`),
    { message: /latent 0: class 0 has two values \(0 and 0.5\)/ },
  );
});

test('negative or fractional latent classes', (t) => {
  t.throws(
    () => openDataset(`npz:${fixtureWith({ latents_classes: npy('<i8', [4, 2], int64Bytes(NEGATIVE)) })}`),
    { message: /latents_classes\[1, 1\] = -1; classes must be non-negative integers/ },
  );
});

test('zip members compressed with an unsupported method', (t) => {
  const bytes = Buffer.from(dspritesLikeNpz().bytes);
  for (let i = 0; i + 4 <= bytes.length; i++) {
    if (bytes.readUInt32LE(i) === 0x04034b50) bytes.writeUInt16LE(12, i + 8); // local header: bzip2
    if (bytes.readUInt32LE(i) === 0x02014b50) bytes.writeUInt16LE(12, i + 10); // central directory entry
  }
  t.throws(() => openDataset(`npz:${file(bytes)}`), {
    message: /uses zip method 12 \(only stored and deflated are supported\)/,
  });
});
