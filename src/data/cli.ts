// Implementations behind `dcign data info` and `dcign data preview` (the yargs modules import this lazily).
import { mixSeed, Rng } from '../random.js';
import { tileGrid } from '../viz/grid.js';
import { writePng } from '../viz/png.js';
import { openDataset, type OpenDatasetOptions } from './index.js';
import type { FactorDataset, FactorSpec, ImageList } from './types.js';

export interface DatasetInfo {
  readonly name: string;
  readonly imageSize: number;
  readonly channels: number;
  readonly size: number;
  /** 'grid': every factor combination once; 'list': images with their own factors (users' files), maybe none. */
  readonly layout: 'grid' | 'list';
  readonly factors: readonly { name: string; size: number; min: number; max: number; labels?: readonly string[] }[];
}

export function datasetInfo(dataset: FactorDataset): DatasetInfo {
  return {
    name: dataset.name,
    imageSize: dataset.imageSize,
    channels: dataset.channels,
    size: dataset.size,
    layout: dataset.list === undefined ? 'grid' : 'list',
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
  const count = dataset.size.toLocaleString('en-US');
  const sizes = dataset.factors.map((f) => f.size).join(' x ');
  const lines = [
    `dataset      ${dataset.name}`,
    `images       ${dataset.imageSize}x${dataset.imageSize}x${dataset.channels}`,
    dataset.list === undefined
      ? `combinations ${count} (${sizes})`
      : dataset.factors.length === 0
        ? `list         ${count} images, unlabelled (no factors: metrics that need factors are skipped)`
        : `list         ${count} images with their own factor values (${sizes}, not a complete grid)`,
    ...(dataset.factors.length === 0
      ? []
      : [
          '',
          `${'factor'.padEnd(width)}  size  values`,
          ...dataset.factors.map((f) => `${f.name.padEnd(width)}  ${String(f.size).padStart(4)}  ${describeValues(f)}`),
        ]),
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
 * `columns` evenly spaced values (all of them when it has fewer); factors with a single value are skipped. List
 * datasets: see listPreviewRows.
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
  const pixels = dataset.imageSize * dataset.imageSize * dataset.channels;
  const list = dataset.list;
  let rowImages: { label: string; draw: (out: Float32Array, at: number, c: number) => boolean }[];
  if (list !== undefined) {
    rowImages = listPreviewRows(dataset, list, columns, rng).map(({ label, images }) => ({
      label,
      draw: (out, at, c) => {
        const image = images[c];
        if (image === undefined) return false;
        list.renderImage(image, out, at);
        return true;
      },
    }));
  } else {
    const base = dataset.factors.map((f) => rng.int(f.size));
    const varying = dataset.factors.flatMap((f, i) => (f.size > 1 ? [i] : []));
    rowImages = varying.map((f) => {
      const size = (dataset.factors[f] as FactorSpec).size;
      return {
        label: (dataset.factors[f] as FactorSpec).name,
        draw: (out, at, c) => {
          if (c >= size) return false;
          const combo = [...base];
          combo[f] = size <= columns ? c : Math.round((c * (size - 1)) / (columns - 1 || 1));
          dataset.render(combo, out, at);
          return true;
        },
      };
    });
  }
  const count = rowImages.length * columns;
  const data = new Float32Array(count * pixels);
  rowImages.forEach((row, r) => {
    for (let c = 0; c < columns; c++) {
      const at = (r * columns + c) * pixels;
      if (!row.draw(data, at, c)) data.fill(0.5, at, at + pixels);
    }
  });
  const channels = dataset.channels === 3 ? 3 : 1;
  const image = tileGrid(
    { data, count, width: dataset.imageSize, height: dataset.imageSize, channels },
    { columns, padding: options.padding ?? 2 },
  );
  return { image, rows: rowImages.map((r) => r.label), columns };
}

/**
 * Preview rows of a list dataset, one per factor: a group of images that differ in that factor alone when the list
 * has one (sorted by the factor), else images spread over the factor's values; an unlabelled list shows four rows
 * of random images.
 */
function listPreviewRows(
  dataset: FactorDataset,
  list: ImageList,
  columns: number,
  rng: Rng,
): { label: string; images: number[] }[] {
  if (dataset.factors.length === 0) {
    return Array.from({ length: 4 }, () => ({
      label: 'images',
      images: Array.from({ length: columns }, () => rng.int(dataset.size)),
    }));
  }
  return dataset.factors.flatMap((spec, f) => {
    if (spec.size < 2) return [];
    const anchors = list.anchors(f);
    let images: number[];
    if (anchors.length > 0) {
      const group = [...list.siblings(anchors[rng.int(anchors.length)] as number, f)];
      group.sort((a, b) => (dataset.factorsOf(a)[f] as number) - (dataset.factorsOf(b)[f] as number));
      images = spread(group, columns);
    } else {
      const present = Array.from({ length: spec.size }, (_, v) => list.withFactor(f, v)[0]).filter((i) => i !== undefined);
      images = spread(present, columns);
    }
    return [{ label: spec.name, images }];
  });
}

/** At most `count` items evenly spaced over the array, in order. */
function spread<T>(items: readonly T[], count: number): T[] {
  if (items.length <= count) return [...items];
  return Array.from({ length: count }, (_, c) => items[Math.round((c * (items.length - 1)) / (count - 1 || 1))] as T);
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
