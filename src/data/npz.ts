// Reader for users' .npz files: the original dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz (Matthey et al. 2017) or any
// .npz in its format, with `imgs` uint8 (N, H, H) or (N, H, H, 3), `latents_classes` int64 (N, K) and
// `latents_values` float64 (N, K); either factor array may be left out (classes are then the ranks of the values, or
// values the classes), both for unlabelled images, and `factor_names` (K,) names the factors. A complete grid of
// combinations, each once, opens as a grid dataset; anything else as a list of images (image-list.ts).
//
// The container (zip, .npy headers, inflating) is npz-archive.ts; this file checks the arrays and builds the dataset.
// The latent arrays are read whole (N * K * 8 bytes: 35 MB for dSprites). Constant factors (dSprites' colour) are
// dropped from the dataset's factors, as disentanglement_lib does.
import { closeSync, existsSync, openSync } from 'node:fs';

import {
  expectArray,
  NpzFormatError,
  openMember,
  readWholeNumbers,
  readZipDirectory,
  type ArraySource,
  type NpzOptions,
  type ZipMember,
} from './npz-archive.js';
import { FactorGrid } from './grid.js';
import { ImageListDataset } from './image-list.js';
import type { FactorDataset, FactorSpec } from './types.js';

/** The dSprites latent names, used when the file has dSprites' six latent columns. */
const DSPRITES_LATENTS = ['color', 'shape', 'scale', 'orientation', 'posX', 'posY'];
const DSPRITES_SHAPES = ['square', 'ellipse', 'heart'];

// ---------------------------------------------------------------------------------------------------------------
// the dataset

/** Per-image factor labels as read from the file (before constant factors are dropped). */
interface Labels {
  readonly classes: Float64Array;
  readonly values: Float64Array;
  readonly k: number;
  readonly names: readonly string[] | undefined;
}

/** What an .npz holds once its members are checked: the images and, when present, their factor labels. */
interface NpzContents {
  readonly imgs: ArraySource;
  readonly count: number;
  readonly side: number;
  readonly channels: 1 | 3;
  /** Values (and bytes) per image: side * side * channels. */
  readonly imageValues: number;
  readonly pixelScale: number;
  readonly labels: Labels | undefined;
}

const LAYOUT =
  `'imgs' uint8 (N, H, H) or (N, H, H, 3), and per-image factors as 'latents_classes' (N, K) integers and/or ` +
  `'latents_values' (N, K) numbers, optionally 'factor_names' (K,) strings`;

function readNpz(path: string, options: NpzOptions, fds: number[]): NpzContents {
  if (!existsSync(path)) {
    throw new Error(
      `npz file not found: ${path}. Give the path of the dSprites file ` +
        `(dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz) or of an .npz in its format ` +
        `(imgs, latents_classes, latents_values; ${LAYOUT}).`,
    );
  }
  const fd = openSync(path, 'r');
  fds.push(fd);
  const members = readZipDirectory(fd, path);
  const member = (name: string): ZipMember | undefined =>
    members.find((x) => x.name === `${name}.npy` || x.name === name);
  const imgsMember = member('imgs');
  if (imgsMember === undefined) {
    const has = members.map((x) => x.name.replace(/\.npy$/, '')).join(', ') || 'nothing';
    throw new NpzFormatError(path, `array 'imgs' is missing (the file has: ${has}); expected ${LAYOUT}`);
  }
  const imgs = openMember(fd, path, imgsMember, options, fds);
  expectArray(imgs, 'imgs', path, ['|u1', '|b1'], [3, 4]);
  const [n, h, w, c = 1] = imgs.header.shape as [number, number, number, number?];
  if (h !== w || h < 1) {
    throw new NpzFormatError(path, `array 'imgs' has shape (${imgs.header.shape.join(', ')}); images must be square`);
  }
  if (c !== 1 && c !== 3) {
    throw new NpzFormatError(path, `array 'imgs' has ${c} channels (shape (${imgs.header.shape.join(', ')})); use 1 (grey) or 3 (RGB)`);
  }
  if (n === 0) throw new NpzFormatError(path, 'the arrays are empty');
  const open = (name: string): ArraySource | undefined => {
    const m = member(name);
    return m === undefined ? undefined : openMember(fd, path, m, options, fds);
  };
  const classesSrc = open('latents_classes');
  const valuesSrc = open('latents_values');
  const namesSrc = open('factor_names');
  let labels: Labels | undefined;
  if (classesSrc !== undefined || valuesSrc !== undefined) {
    if (classesSrc !== undefined) expectArray(classesSrc, 'latents_classes', path, ['<i8', '<i4'], [2]);
    if (valuesSrc !== undefined) expectArray(valuesSrc, 'latents_values', path, ['<f8', '<f4'], [2]);
    const shapeOf = (src: ArraySource | undefined): [number, number] | undefined => src?.header.shape as [number, number] | undefined;
    const cs = shapeOf(classesSrc);
    const vs = shapeOf(valuesSrc);
    const k = (cs ?? vs)?.[1] as number;
    if ((cs !== undefined && cs[0] !== n) || (vs !== undefined && (vs[0] !== n || vs[1] !== k))) {
      const parts = [`imgs (${imgs.header.shape.join(', ')})`];
      if (cs !== undefined) parts.push(`latents_classes (${cs.join(', ')})`);
      if (vs !== undefined) parts.push(`latents_values (${vs.join(', ')})`);
      throw new NpzFormatError(path, `array shapes disagree: ${parts.join(', ')}; expected (N, H, H[, 3]), (N, K), (N, K)`);
    }
    if (k === 0) throw new NpzFormatError(path, 'the factor arrays have no columns (K = 0); leave them out for unlabelled images');
    const values = valuesSrc === undefined ? undefined : readWholeNumbers(valuesSrc);
    if (values !== undefined) {
      const bad = values.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) {
        const what = `latents_values[${Math.floor(bad / k)}, ${bad % k}] = ${values[bad]}; factor values must be finite`;
        throw new NpzFormatError(path, what);
      }
    }
    const classes = classesSrc === undefined ? classesFromValues(values as Float64Array, n, k) : readWholeNumbers(classesSrc);
    labels = { classes, values: values ?? classes, k, names: namesSrc === undefined ? undefined : readNames(namesSrc, path, k) };
  } else if (namesSrc !== undefined) {
    throw new NpzFormatError(path, `'factor_names' is given but no factors ('latents_classes' or 'latents_values')`);
  }
  const imageValues = h * w * c;
  return { imgs, count: n, side: h, channels: c, imageValues, pixelScale: detectScale(imgs, imageValues, Math.min(n, 64)), labels };
}

/** Classes of per-image values: each column's distinct values in ascending order get indices 0, 1, ... */
function classesFromValues(values: Float64Array, n: number, k: number): Float64Array {
  const classes = new Float64Array(n * k);
  for (let c = 0; c < k; c++) {
    const distinct = [...new Set(Array.from({ length: n }, (_, r) => values[r * k + c] as number))].sort((a, b) => a - b);
    const index = new Map(distinct.map((v, i) => [v, i]));
    for (let r = 0; r < n; r++) classes[r * k + c] = index.get(values[r * k + c] as number) as number;
  }
  return classes;
}

/** A numpy unicode array ('<U<n>', UTF-32 little-endian, NUL-padded) of K names. */
function readNames(src: ArraySource, path: string, k: number): string[] {
  const { descr, shape, fortranOrder } = src.header;
  const width = /^<U(\d+)$/.exec(descr)?.[1];
  if (width === undefined || fortranOrder || shape.length !== 1 || shape[0] !== k) {
    const what = `array 'factor_names' has dtype '${descr}' and shape (${shape.join(', ')}); expected K = ${k} strings ('<U…', shape (${k},))`;
    throw new NpzFormatError(path, what);
  }
  const item = 4 * Number(width);
  const bytes = Buffer.alloc(k * item);
  src.read(0, bytes.length, bytes);
  const names: string[] = [];
  for (let i = 0; i < k; i++) {
    let name = '';
    for (let j = 0; j < Number(width); j++) {
      const cp = bytes.readUInt32LE(i * item + 4 * j);
      if (cp === 0) break;
      name += String.fromCodePoint(cp);
    }
    names.push(name);
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (name.length === 0 || seen.has(name)) {
      throw new NpzFormatError(path, `'factor_names' must be distinct and non-empty, got ${JSON.stringify(names)}`);
    }
    seen.add(name);
  }
  return names;
}

/** dSprites stores 0/1; files that store 0..255 are scaled to [0, 1]. Decided once from the first images. */
function detectScale(imgs: ArraySource, imageValues: number, count: number): number {
  const row = Buffer.alloc(imageValues);
  let max = 0;
  for (let r = 0; r < count; r++) {
    imgs.read(r * imageValues, imageValues, row);
    for (const v of row) if (v > max) max = v;
  }
  return max > 1 ? 1 / 255 : 1;
}

/** Reads image r of the file into out at offset, scaled to [0, 1]. */
function imageReader(contents: NpzContents): (r: number, out: Float32Array, offset: number) => void {
  const row = Buffer.alloc(contents.imageValues);
  const scale = contents.pixelScale;
  return (r, out, offset) => {
    if (offset < 0 || offset + row.length > out.length) {
      throw new RangeError(`render target too small: need ${row.length} values at offset ${offset}`);
    }
    contents.imgs.read(r * row.length, row.length, row);
    for (let i = 0; i < row.length; i++) out[offset + i] = (row[i] as number) * scale;
  };
}

/** An .npz whose factor combinations form a complete grid, each combination once (dSprites itself). */
export class NpzDataset implements FactorDataset {
  readonly name: string;
  readonly imageSize: number;
  readonly channels: number;
  readonly size: number;
  private readonly read: (r: number, out: Float32Array, offset: number) => void;

  constructor(
    readonly path: string,
    contents: NpzContents,
    readonly factors: readonly FactorSpec[],
    private readonly grid: FactorGrid,
    /** Row of each flat combination, or undefined when the file's rows are already in grid order. */
    private readonly rowOf: Int32Array | undefined,
    private readonly fds: number[],
  ) {
    this.name = `npz:${path}`;
    this.imageSize = contents.side;
    this.channels = contents.channels;
    this.size = grid.size;
    this.read = imageReader(contents);
  }

  /** Closes the file handles; the dataset cannot render afterwards. */
  close(): void {
    for (const fd of this.fds.splice(0)) closeSync(fd);
  }

  factorsOf(index: number): number[] {
    return this.grid.factorsOf(index);
  }

  indexOf(factorIndices: readonly number[]): number {
    return this.grid.indexOf(factorIndices);
  }

  /** Row of the file that holds a factor combination. */
  rowIndex(factorIndices: readonly number[]): number {
    const flat = this.grid.indexOf(factorIndices);
    return this.rowOf === undefined ? flat : (this.rowOf[flat] as number);
  }

  render(factorIndices: readonly number[], out: Float32Array, offset: number): void {
    this.read(this.rowIndex(factorIndices), out, offset);
  }
}

/** The kept factors (constant ones dropped, as disentanglement_lib does) and the file's column of each. */
function buildFactors(path: string, labels: Labels, n: number): { factors: FactorSpec[]; columns: number[] } {
  const { classes, values, k } = labels;
  const sizes: number[] = [];
  const valueOf: number[][] = [];
  for (let c = 0; c < k; c++) {
    let max = 0;
    for (let r = 0; r < n; r++) {
      const v = classes[r * k + c] as number;
      if (!Number.isInteger(v) || v < 0) {
        throw new NpzFormatError(path, `latents_classes[${r}, ${c}] = ${v}; classes must be non-negative integers`);
      }
      if (v > max) max = v;
    }
    sizes.push(max + 1);
    const vals = new Array<number>(max + 1).fill(NaN);
    for (let r = 0; r < n; r++) {
      const cls = classes[r * k + c] as number;
      const val = values[r * k + c] as number;
      const seen = vals[cls] as number;
      if (Number.isNaN(seen)) vals[cls] = val;
      else if (seen !== val) {
        const what = `latent ${c}: class ${cls} has two values (${seen} and ${val}) in latents_values`;
        throw new NpzFormatError(path, what);
      }
    }
    // Classes no image has (a gap in the numbering) take their own index as value, so values stay defined.
    valueOf.push(vals.map((v, i) => (Number.isNaN(v) ? i : v)));
  }
  const kept = sizes.flatMap((s, c) => (s > 1 ? [c] : []));
  const names = labels.names ?? (k === DSPRITES_LATENTS.length ? DSPRITES_LATENTS : sizes.map((_, c) => `factor${c}`));
  const columns = kept.length > 0 ? kept : [0];
  const factors: FactorSpec[] = columns.map((c) => {
    const spec: FactorSpec = { name: names[c] as string, size: sizes[c] as number, values: valueOf[c] as number[] };
    return names[c] === 'shape' && spec.size === 3 ? { ...spec, labels: DSPRITES_SHAPES } : spec;
  });
  return { factors, columns };
}

/**
 * The file row of every grid combination when the rows are a complete grid with each combination once (rowOf is
 * undefined when they are already in grid order); null when they are not, and the file is read as a list.
 */
function gridRows(grid: FactorGrid, classes: Float64Array, columns: readonly number[], n: number, k: number): { rowOf: Int32Array | undefined } | null {
  if (grid.size !== n) return null;
  const rowOf = new Int32Array(grid.size).fill(-1);
  let inOrder = true;
  const combo = new Array<number>(columns.length);
  for (let r = 0; r < n; r++) {
    columns.forEach((c, j) => (combo[j] = classes[r * k + c] as number));
    const flat = grid.indexOf(combo);
    if (rowOf[flat] !== -1) return null;
    rowOf[flat] = r;
    if (flat !== r) inOrder = false;
  }
  return { rowOf: inOrder ? undefined : rowOf };
}

/**
 * Opens a user's .npz: a complete grid of factor combinations (dSprites' layout) as a grid dataset; images whose
 * factors do not form a complete grid, or images without factors, as a list (image-list.ts).
 */
export function openNpz(path: string, options: NpzOptions = {}): FactorDataset {
  const fds: number[] = [];
  try {
    const contents = readNpz(path, options, fds);
    const name = `npz:${path}`;
    const { count, side, channels, labels } = contents;
    if (labels === undefined) {
      const classes = new Int32Array(0);
      return new ImageListDataset({ name, imageSize: side, channels, count, factors: [], classes, read: imageReader(contents) });
    }
    const { factors, columns } = buildFactors(path, labels, count);
    const sizes = factors.map((f) => f.size);
    const product = sizes.reduce((a, b) => a * b, 1);
    if (product === count) {
      const grid = new FactorGrid(factors);
      const rows = gridRows(grid, labels.classes, columns, count, labels.k);
      if (rows !== null) return new NpzDataset(path, contents, factors, grid, rows.rowOf, fds);
    }
    const classes = new Int32Array(count * columns.length);
    for (let r = 0; r < count; r++) {
      columns.forEach((c, j) => (classes[r * columns.length + j] = labels.classes[r * labels.k + c] as number));
    }
    return new ImageListDataset({ name, imageSize: side, channels, count, factors, classes, read: imageReader(contents) });
  } catch (err) {
    for (const fd of fds.splice(0)) closeSync(fd);
    throw err;
  }
}
