// How long the data pipeline takes to produce one batch of 64 for each dataset, next to the training step time of the
// standard model (Higgins et al. 2017 architecture, 64x64, batch 64) measured in the same run. Data must never be the
// bottleneck: the sampler runs on the training thread, so its time adds to every step. Datasets: the generated ones
// (dsprites, scenes, faces, shapes3d in RGB), users' files (a dSprites-layout .npz, the same renders with a third of
// the rows dropped so that they open as a list, and a folder of 256 PNGs, unlabelled, resized once before timing).
// The step is the grey standard model's; an RGB model's step costs a little more (its first and last layers).
//
// "cold" renders every image (cache disabled): the worst case, e.g. early in training; "warm" runs with the default
// LRU cache after the batches have been seen once. The final JSON line compares throughputs, higher is better:
// ours = batches per second of the slowest cold data path, reference = training steps per second; ratio > 1 means the
// data keeps up with training even with no cache at all. The table also gives the process's CPU ms per batch, which
// is what a batch costs on an idle core when the machine is shared.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSampler, openDataset, type FactorDataset } from '../src/data/index.js';
import { DspritesDataset } from '../src/data/dsprites.js';
import { Shapes3dDataset } from '../src/data/shapes3d.js';
import { float64Bytes, int64Bytes, npy, zip } from '../test/helpers/npz.js';

const BATCH = 64;
const BATCHES = Number(process.env['BENCH_DATA_BATCHES'] ?? 20);
const TRAIN_STEPS = Number(process.env['BENCH_DATA_TRAIN_STEPS'] ?? 10);

interface Timing {
  /** Wall-clock ms per batch. */
  readonly ms: number;
  /** CPU ms per batch of this process: on a shared, oversubscribed machine the wall clock overstates the cost. */
  readonly cpuMs: number;
}

function msPerBatch(dataset: FactorDataset, kind: 'iid' | 'dcign', batches: number, seed = 1): Timing {
  const sampler = createSampler(dataset, { kind, batchSize: BATCH, seed });
  sampler.next(); // warm up the JIT on this path
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < batches; i++) sampler.next();
  const cpu = process.cpuUsage(cpu0);
  return { ms: (performance.now() - t0) / batches, cpuMs: (cpu.user + cpu.system) / 1000 / batches };
}

/** Warm: the same batches a second time, now from the cache. */
function msPerBatchWarm(dataset: FactorDataset, kind: 'iid' | 'dcign', batches: number): Timing {
  msPerBatch(dataset, kind, batches, 2);
  return msPerBatch(dataset, kind, batches, 2);
}

/** A dSprites-format .npz (stored members, so images are read by offset) built from our own renders. */
function writeNpzFixture(dir: string): string {
  const ds = new DspritesDataset({ orientations: 10, positions: 8, cacheSize: 0 });
  const n = ds.size;
  const imgs = new Uint8Array(n * 64 * 64);
  const classes: number[] = [];
  const values: number[] = [];
  for (let r = 0; r < n; r++) {
    const f = ds.factorsOf(r);
    imgs.set(ds.pixels(f), r * 4096);
    const full = [0, ...f];
    classes.push(...full);
    values.push(1, ...f.map((k, j) => ds.factors[j]?.values[k] as number));
  }
  const path = join(dir, 'dsprites-like.npz');
  writeFileSync(
    path,
    zip([
      { name: 'imgs.npy', data: npy('|u1', [n, 64, 64], imgs) },
      { name: 'latents_classes.npy', data: npy('<i8', [n, 6], int64Bytes(classes)) },
      { name: 'latents_values.npy', data: npy('<f8', [n, 6], float64Bytes(values)) },
    ]),
  );
  return path;
}

/**
 * The same renders as a labelled list: every third row dropped, so the factors no longer form a complete grid and the
 * file opens as a list of images (samplers draw images and DCIGN groups).
 */
function writeListNpzFixture(dir: string): string {
  const ds = new DspritesDataset({ orientations: 10, positions: 8, cacheSize: 0 });
  const rows = Array.from({ length: ds.size }, (_, r) => r).filter((r) => r % 3 !== 2);
  const imgs = new Uint8Array(rows.length * 4096);
  const classes: number[] = [];
  rows.forEach((r, i) => {
    const f = ds.factorsOf(r);
    imgs.set(ds.pixels(f), i * 4096);
    classes.push(0, ...f);
  });
  const path = join(dir, 'dsprites-list.npz');
  writeFileSync(
    path,
    zip([
      { name: 'imgs.npy', data: npy('|u1', [rows.length, 64, 64], imgs) },
      { name: 'latents_classes.npy', data: npy('<i8', [rows.length, 6], int64Bytes(classes)) },
    ]),
  );
  return path;
}

/** A folder of 256 PNG files (shapes3d renders), for the unlabelled images: dataset; resized once before timing. */
async function writeImageFolder(dir: string): Promise<string> {
  const { default: sharp } = await import('sharp');
  const folder = join(dir, 'pngs');
  mkdirSync(folder);
  const ds = new Shapes3dDataset({ cacheSize: 0 });
  for (let i = 0; i < 256; i++) {
    const pixels = ds.pixels(ds.factorsOf((i * 1877) % ds.size));
    await sharp(Buffer.from(pixels), { raw: { width: 64, height: 64, channels: 3 } })
      .png()
      .toFile(join(folder, `img${String(i).padStart(3, '0')}.png`));
  }
  return folder;
}

/**
 * The reference is measured in this run or the benchmark fails: a figure it did not measure (a stated img/s from
 * elsewhere) would make the ratio compare this machine's data path with another machine's training.
 */
async function trainStepMs(): Promise<{ ms: number; note: string }> {
  try {
    const [{ resolveModelConfig, VaeModel, tf }, { Adam, computeGradients, applyGradients }] = await Promise.all([
      import('../src/model/index.js'),
      import('../src/train/index.js'),
    ]);
    const dataset = openDataset('dsprites');
    const model = new VaeModel(resolveModelConfig({ imageSize: 64 }), 1, { channels: 1, factors: dataset.factors });
    const adam = { learningRate: 1e-4, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, clipNorm: 0 }; // DESIGN.md
    const optimizer = new Adam(model.params, adam);
    const sampler = createSampler(dataset, { kind: 'iid', batchSize: BATCH, seed: 3 });
    const batches = Array.from({ length: TRAIN_STEPS + 3 }, () => sampler.next()); // data outside the timing
    const step = (i: number): void => {
      const { grads } = computeGradients(model, batches[i] as (typeof batches)[number], i, 0, false);
      applyGradients(optimizer, grads);
    };
    for (let i = 0; i < 3; i++) step(i);
    (model.params[0] as { dataSync(): unknown }).dataSync(); // note: device sync before timing
    const t0 = performance.now();
    for (let i = 3; i < TRAIN_STEPS + 3; i++) step(i);
    (model.params[0] as { dataSync(): unknown }).dataSync(); // note: device sync: the steps have finished
    const ms = (performance.now() - t0) / TRAIN_STEPS;
    return { ms, note: `measured: standard model, ${tf.getBackend()} backend, ${TRAIN_STEPS} steps` };
  } catch (err) {
    throw new Error(
      `bench:data cannot measure its reference, the standard model's training step (${(err as Error).message.split('\n')[0]}): ` +
        'run scripts/setup-tensorflow.sh (part of npm run setup) so the native TensorFlow binding loads, then run the benchmark again',
    );
  }
}

async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dcign-bench-data-'));
  try {
    const npzPath = writeNpzFixture(dir);
    const listPath = writeListNpzFixture(dir);
    const folder = await writeImageFolder(dir);
    const cacheDir = join(dir, 'cache');
    openDataset(`images:${folder}`, { cacheDir }); // the one-time resize, outside the timing
    const rows: ({ dataset: string; sampler: string; cache: string } & Timing)[] = [];
    const cases: { label: string; cold: () => FactorDataset; warm: () => FactorDataset }[] = [
      { label: 'dsprites', cold: () => openDataset('dsprites', { cacheSize: 0 }), warm: () => openDataset('dsprites') },
      {
        label: 'dsprites (32x32)',
        cold: () => openDataset('dsprites', { cacheSize: 0, imageSize: 32 }),
        warm: () => openDataset('dsprites', { imageSize: 32 }),
      },
      { label: 'scenes', cold: () => openDataset('scenes', { cacheSize: 0 }), warm: () => openDataset('scenes') },
      { label: 'faces', cold: () => openDataset('faces', { cacheSize: 0 }), warm: () => openDataset('faces') },
      { label: 'shapes3d (RGB)', cold: () => openDataset('shapes3d', { cacheSize: 0 }), warm: () => openDataset('shapes3d') },
      {
        label: 'npz (stored, by offset)',
        cold: () => openDataset(`npz:${npzPath}`),
        warm: () => openDataset(`npz:${npzPath}`),
      },
      {
        label: 'npz list (incomplete grid)',
        cold: () => openDataset(`npz:${listPath}`),
        warm: () => openDataset(`npz:${listPath}`),
      },
      {
        label: 'images: folder (unlabelled)',
        cold: () => openDataset(`images:${folder}`, { cacheDir }),
        warm: () => openDataset(`images:${folder}`, { cacheDir }),
      },
    ];
    for (const c of cases) {
      // DCIGN batches need factors: an unlabelled folder has iid batches only.
      for (const kind of c.label.includes('unlabelled') ? (['iid'] as const) : (['iid', 'dcign'] as const)) {
        rows.push({ dataset: c.label, sampler: kind, cache: 'cold', ...msPerBatch(c.cold(), kind, BATCHES) });
        if (!c.label.startsWith('npz') && !c.label.startsWith('images')) {
          rows.push({ dataset: c.label, sampler: kind, cache: 'warm', ...msPerBatchWarm(c.warm(), kind, BATCHES) });
        }
      }
    }
    const train = await trainStepMs();
    const stepMs = train.ms.toFixed(1);
    console.log(`batch of ${BATCH}, mean of ${BATCHES} batches; training step ${stepMs} ms (${train.note})`);
    const widths = [-28, -7, -5, 9, 9, 10]; // negative: left-aligned
    const row = (cells: readonly string[]): string =>
      cells.map((c, i) => ((widths[i] ?? 0) < 0 ? c.padEnd(-(widths[i] ?? 0)) : c.padStart(widths[i] ?? 0))).join(' ');
    console.log(row(['dataset', 'sampler', 'cache', 'ms/batch', 'of a step', 'cpu ms']));
    for (const r of rows) {
      const share = ((100 * r.ms) / train.ms).toFixed(1);
      console.log(row([r.dataset, r.sampler, r.cache, r.ms.toFixed(2), `${share}%`, r.cpuMs.toFixed(2)]));
    }
    const slowest = Math.max(...rows.filter((r) => r.cache === 'cold').map((r) => r.ms));
    const ours = 1000 / slowest;
    const reference = 1000 / train.ms;
    console.log(
      JSON.stringify({
        bench: 'data',
        ours: Number(ours.toFixed(2)),
        reference: Number(reference.toFixed(2)),
        unit: `batches of ${BATCH}/s: slowest cold data path vs standard-model training steps/s, both measured in this run; higher is better`,
        ratio: Number((ours / reference).toFixed(3)),
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
