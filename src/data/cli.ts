// Implementations behind `dcign data info` and `dcign data preview` (the yargs modules import this lazily).
import { mixSeed, Rng } from '../random.js';
import { tileGrid } from '../viz/grid.js';
import { writePng } from '../viz/png.js';
import { openDataset, type OpenDatasetOptions } from './index.js';
import type { FactorDataset, FactorSpec } from './types.js';

export interface DatasetInfo {
  readonly name: string;
  readonly imageSize: number;
  readonly channels: number;
  readonly size: number;
  readonly factors: readonly { name: string; size: number; min: number; max: number; labels?: readonly string[] }[];
}

export function datasetInfo(dataset: FactorDataset): DatasetInfo {
  return {
    name: dataset.name,
    imageSize: dataset.imageSize,
    channels: dataset.channels,
    size: dataset.size,
    factors: dataset.factors.map((f) => ({
      name: f.name,
      size: f.size,
      min: Math.min(...f.values),
      max: Math.max(...f.values),
      ...(f.labels === undefined ? {} : { labels: f.labels }),
    })),
  };
}

function describeValues(f: FactorSpec): string {
  if (f.labels !== undefined) return f.labels.join(', ');
  const integers = f.values.every((v) => Number.isInteger(v));
  const fmt = (v: number): string => (integers ? String(v) : v.toFixed(4));
  if (f.size <= 4) return f.values.map(fmt).join(', ');
  return `${fmt(f.values[0] as number)}, ${fmt(f.values[1] as number)}, ..., ${fmt(f.values[f.size - 1] as number)}`;
}

/** A human-readable table of a dataset's factors and sizes. */
export function formatInfo(dataset: FactorDataset): string {
  const width = Math.max(6, ...dataset.factors.map((f) => f.name.length));
  const lines = [
    `dataset      ${dataset.name}`,
    `images       ${dataset.imageSize}x${dataset.imageSize}x${dataset.channels}`,
    `combinations ${dataset.size.toLocaleString('en-US')} (${dataset.factors.map((f) => f.size).join(' x ')})`,
    '',
    `${'factor'.padEnd(width)}  size  values`,
    ...dataset.factors.map((f) => `${f.name.padEnd(width)}  ${String(f.size).padStart(4)}  ${describeValues(f)}`),
  ];
  return lines.join('\n');
}

export interface PreviewOptions {
  /** Images per row (default 10, at most the factor's size). */
  readonly columns?: number;
  /** Chooses the base combination that the other factors are fixed to. */
  readonly seed?: number;
  readonly padding?: number;
}

/**
 * The preview grid: one row per factor, starting from one random base combination and sweeping that factor over
 * `columns` evenly spaced values (all of them when it has fewer); factors with a single value are skipped.
 */
export function previewGrid(
  dataset: FactorDataset,
  options: PreviewOptions = {},
): { image: ReturnType<typeof tileGrid>; rows: string[]; columns: number } {
  const columns = options.columns ?? 10;
  if (!Number.isInteger(columns) || columns < 1) {
    throw new RangeError(`columns must be a positive integer, got ${columns}`);
  }
  const rng = new Rng(mixSeed(options.seed ?? 0, 0x9e71e));
  const base = dataset.factors.map((f) => rng.int(f.size));
  const varying = dataset.factors.flatMap((f, i) => (f.size > 1 ? [i] : []));
  const pixels = dataset.imageSize * dataset.imageSize * dataset.channels;
  const count = varying.length * columns;
  const data = new Float32Array(count * pixels);
  varying.forEach((f, row) => {
    const size = (dataset.factors[f] as FactorSpec).size;
    for (let c = 0; c < columns; c++) {
      const at = (row * columns + c) * pixels;
      if (c >= size) {
        data.fill(0.5, at, at + pixels);
        continue;
      }
      const combo = [...base];
      combo[f] = size <= columns ? c : Math.round((c * (size - 1)) / (columns - 1 || 1));
      dataset.render(combo, data, at);
    }
  });
  const channels = dataset.channels === 3 ? 3 : 1;
  const image = tileGrid(
    { data, count, width: dataset.imageSize, height: dataset.imageSize, channels },
    { columns, padding: options.padding ?? 2 },
  );
  return { image, rows: varying.map((f) => (dataset.factors[f] as FactorSpec).name), columns };
}

export async function runDataInfo(name: string, options: OpenDatasetOptions & { json?: boolean }): Promise<void> {
  const dataset = openDataset(name, options);
  process.stdout.write(`${options.json === true ? JSON.stringify(datasetInfo(dataset)) : formatInfo(dataset)}\n`);
  return Promise.resolve();
}

export async function runDataPreview(
  name: string,
  out: string,
  options: OpenDatasetOptions & PreviewOptions,
): Promise<void> {
  const dataset = openDataset(name, options);
  const { image, rows, columns } = previewGrid(dataset, options);
  await writePng(out, image);
  process.stdout.write(`wrote ${out}: ${rows.length} rows (${rows.join(', ')}) x ${columns} columns\n`);
}
