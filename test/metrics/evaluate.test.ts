// The evaluation hook over a dataset and an image-level representation, and the MI heatmap it feeds.
import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import type { FactorDataset } from '../../src/data/types.js';
import { evaluateRepresentation } from '../../src/metrics/evaluate.js';
import { heatmapImage, writeHeatmapPng } from '../../src/viz/heatmap.js';

// A tiny dataset: 2 factors (3 and 4 values); pixel k of the 2x2 image holds factor k / (size - 1).
const sizes = [3, 4];
const toy: FactorDataset = {
  name: 'toy',
  factors: sizes.map((size, k) => ({ name: `f${k}`, size, values: Array.from({ length: size }, (_, i) => i) })),
  imageSize: 2,
  channels: 1,
  size: 12,
  render(f, out, offset) {
    out.fill(0, offset, offset + 4);
    out[offset] = (f[0] as number) / 2;
    out[offset + 1] = (f[1] as number) / 3;
  },
  factorsOf: (i) => [Math.floor(i / 4), i % 4],
  indexOf: (f) => (f[0] as number) * 4 + (f[1] as number),
};

// Latent 0 reads factor 0, latent 1 factor 1, latent 2 is noise tied to the pixel values (deterministic).
const represent = (images: Float32Array, n: number): Promise<number[][]> =>
  Promise.resolve(
    Array.from({ length: n }, (_, i) => {
      const a = images[i * 4] as number;
      const b = images[i * 4 + 1] as number;
      return [a + 0.01 * Math.sin(1000 * (a + 3 * b + i)), b + 0.01 * Math.cos(777 * (a + b + i)), Math.sin(12345 * (i + a))];
    }),
  );

test('evaluateRepresentation scores an identity-like representation high and is deterministic for a seed', async (t) => {
  const opts = {
    dataset: toy,
    represent,
    numTrain: 400,
    numTest: 200,
    seed: 3,
    samplingTrain: 200,
    samplingEval: 100,
  };
  const a = await evaluateRepresentation(opts);
  const b = await evaluateRepresentation(opts);
  t.deepEqual(a, b);
  t.deepEqual(a.errors, {});
  t.true((a.metrics.mig as number) > 0.8, `mig ${a.metrics.mig}`);
  t.true((a.metrics.dci_disentanglement as number) > 0.8);
  t.is(a.metrics.beta_vae_eval, 1);
  t.is(a.mutualInfo.length, 2);
  t.is((a.mutualInfo[0] as number[]).length, 3);
  t.is(a.numLatents, 3);
  for (const key of ['sap', 'modularity', 'explicitness_test', 'irs', 'factor_vae_eval', 'active_units']) {
    t.true(Number.isFinite(a.metrics[key]), key);
  }
});

test('the MI heatmap is a PNG with one cell per entry', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dcign-heatmap-'));
  try {
    const file = path.join(dir, 'mi.png');
    await writeHeatmapPng(file, [
      [0, 1, 0.5],
      [0.2, 0, 0],
    ], { cellSize: 10 });
    const png = PNG.sync.read(await readFile(file));
    t.is(png.width, 31);
    t.is(png.height, 21);
    const img = heatmapImage([[0, 1]], { cellSize: 4 });
    // the cell of the maximum is yellow, the cell of 0 dark purple
    const at = (x: number, y: number): number[] => Array.from(img.data.slice((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
    t.deepEqual(at(2, 2), [68, 1, 84]);
    t.deepEqual(at(6, 2), [253, 231, 37]);
    t.throws(() => heatmapImage([]), { message: /empty/ });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
