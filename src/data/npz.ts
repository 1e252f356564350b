// Reader for users' .npz files: the original dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz (Matthey et al. 2017) or any
// .npz in its format, with `imgs` uint8 (N, H, H) or (N, H, H, 3), `latents_classes` int64 (N, K) and
// `latents_values` float64 (N, K); either factor array may be left out (classes are then the ranks of the values, or
// values the classes), both for unlabelled images, and `factor_names` (K,) names the factors. A complete grid of
// combinations, each once, opens as a grid dataset; anything else as a list of images (image-list.ts).
//
// An .npz is a zip of .npy files. We read the zip's central directory (zip64 included, as numpy writes it), then:
//  - stored members are read in place, one image row at a time, by offset;
//  - deflated members up to `inMemoryLimitBytes` inflated are inflated into memory;
//  - larger deflated members (the original imgs inflate to 3 GB) are stream-inflated once into a cache file by a
//    child process (so openDataset stays synchronous and memory stays flat), then read by offset like stored ones.
// The latent arrays are read whole (N * K * 8 bytes: 35 MB for dSprites). Constant factors (dSprites' colour) are
// dropped from the dataset's factors, as disentanglement_lib does.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { constants as zlibConstants, inflateRawSync } from 'node:zlib';
import { FactorGrid } from './grid.js';
import { ImageListDataset } from './image-list.js';
import type { FactorDataset, FactorSpec } from './types.js';

export interface NpzOptions {
  /** Deflated members whose inflated size is at most this many bytes are inflated into memory (default 256 MiB). */
  readonly inMemoryLimitBytes?: number;
  /** Where large deflated members are inflated to (default $DCIGN_CACHE/npz or ~/.cache/dcign/npz). */
  readonly cacheDir?: string;
}

/** The dSprites latent names, used when the file has dSprites' six latent columns. */
const DSPRITES_LATENTS = ['color', 'shape', 'scale', 'orientation', 'posX', 'posY'];
const DSPRITES_SHAPES = ['square', 'ellipse', 'heart'];

export class NpzFormatError extends Error {
  constructor(path: string, what: string) {
    super(`${path}: ${what}`);
    this.name = 'NpzFormatError';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// zip

interface ZipMember {
  readonly name: string;
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localHeaderOffset: number;
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

function u64(buf: Buffer, at: number): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('zip offset beyond 2^53');
  return Number(v);
}

/** The central directory of a zip file: every member's name, method, sizes and local header offset. */
export function readZipDirectory(fd: number, path: string): ZipMember[] {
  const fileSize = fstatSync(fd).size;
  const tailLength = Math.min(fileSize, 22 + 65535 + 20);
  const tail = readAt(fd, fileSize - tailLength, tailLength);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new NpzFormatError(path, 'not an .npz file: no zip end-of-central-directory record found');
  let entries = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  const locator = eocd - 20;
  if (locator >= 0 && tail.readUInt32LE(locator) === 0x07064b50) {
    const recordOffset = u64(tail, locator + 8);
    const record = readAt(fd, recordOffset, 56);
    if (record.length < 56 || record.readUInt32LE(0) !== 0x06064b50) {
      throw new NpzFormatError(path, 'broken zip64 end-of-central-directory record');
    }
    entries = u64(record, 32);
    cdSize = u64(record, 40);
    cdOffset = u64(record, 48);
  }
  const cd = readAt(fd, cdOffset, cdSize);
  if (cd.length !== cdSize) throw new NpzFormatError(path, 'truncated zip central directory');
  const members: ZipMember[] = [];
  let at = 0;
  for (let e = 0; e < entries; e++) {
    if (at + 46 > cd.length || cd.readUInt32LE(at) !== 0x02014b50) {
      throw new NpzFormatError(path, `broken zip central directory entry ${e}`);
    }
    const method = cd.readUInt16LE(at + 10);
    let compressedSize = cd.readUInt32LE(at + 20);
    let size = cd.readUInt32LE(at + 24);
    const nameLength = cd.readUInt16LE(at + 28);
    const extraLength = cd.readUInt16LE(at + 30);
    const commentLength = cd.readUInt16LE(at + 32);
    let localHeaderOffset = cd.readUInt32LE(at + 42);
    const name = cd.toString('utf8', at + 46, at + 46 + nameLength);
    // zip64 extended information: 64-bit values for exactly those fields saturated at 0xffffffff, in this order.
    let x = at + 46 + nameLength;
    const extraEnd = x + extraLength;
    while (x + 4 <= extraEnd) {
      const id = cd.readUInt16LE(x);
      const len = cd.readUInt16LE(x + 2);
      if (id === 0x0001) {
        let p = x + 4;
        if (size === 0xffffffff) [size, p] = [u64(cd, p), p + 8];
        if (compressedSize === 0xffffffff) [compressedSize, p] = [u64(cd, p), p + 8];
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = u64(cd, p);
      }
      x += 4 + len;
    }
    members.push({ name, method, compressedSize, size, localHeaderOffset });
    at = extraEnd + commentLength;
  }
  return members;
}

/** Offset of a member's data: after its local header, whose name and extra lengths may differ from the directory's. */
function dataOffset(fd: number, path: string, m: ZipMember): number {
  const local = readAt(fd, m.localHeaderOffset, 30);
  if (local.length < 30 || local.readUInt32LE(0) !== 0x04034b50) {
    throw new NpzFormatError(path, `broken zip local header for '${m.name}'`);
  }
  return m.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
}

// ---------------------------------------------------------------------------------------------------------------
// npy

export interface NpyHeader {
  readonly descr: string;
  readonly fortranOrder: boolean;
  readonly shape: number[];
  /** Bytes from the start of the .npy to its data. */
  readonly dataOffset: number;
}

/** Parses an .npy header (format versions 1, 2 and 3) from the first bytes of the file. */
export function parseNpyHeader(bytes: Uint8Array, where: string): NpyHeader {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 10 || buf[0] !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') {
    throw new Error(`${where}: not an .npy array (bad magic)`);
  }
  const major = buf[6];
  const lenBytes = major === 1 ? 2 : 4;
  if (major !== 1 && major !== 2 && major !== 3) throw new Error(`${where}: unsupported .npy version ${major}`);
  const headerLength = lenBytes === 2 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = 8 + lenBytes;
  if (buf.length < start + headerLength) throw new Error(`${where}: truncated .npy header`);
  const text = buf.toString(major === 3 ? 'utf8' : 'latin1', start, start + headerLength);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new Error(`${where}: unreadable .npy header ${JSON.stringify(text.trim())}`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number(s.replace(/L$/, '')));
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`${where}: bad .npy shape (${shapeText})`);
  return { descr, fortranOrder: fortran === 'True', shape, dataOffset: start + headerLength };
}

// ---------------------------------------------------------------------------------------------------------------
// arrays inside the npz

/** Random access to one array's bytes, wherever they live (memory, the zip itself, or an inflated cache file). */
interface ArraySource {
  readonly header: NpyHeader;
  read(byteOffset: number, length: number, out: Buffer): void;
}

function inMemory(header: NpyHeader, npy: Buffer): ArraySource {
  return {
    header,
    read: (offset, length, out) => {
      npy.copy(out, 0, header.dataOffset + offset, header.dataOffset + offset + length);
    },
  };
}

function onDisk(header: NpyHeader, fd: number, npyStart: number, where: string): ArraySource {
  return {
    header,
    read: (offset, length, out) => {
      const n = readSync(fd, out, 0, length, npyStart + header.dataOffset + offset);
      if (n !== length) throw new Error(`${where}: file ended early (truncated array data)`);
    },
  };
}

const INFLATE_CHILD = `
const fs = require('node:fs');
const zlib = require('node:zlib');
const { pipeline } = require('node:stream');
const [src, start, end, tmp, dst] = process.argv.slice(1);
pipeline(
  fs.createReadStream(src, { start: Number(start), end: Number(end) - 1 }),
  zlib.createInflateRaw(),
  fs.createWriteStream(tmp),
  (err) => {
    if (err) { console.error(err.message); process.exit(1); }
    fs.renameSync(tmp, dst);
  },
);
`;

function cacheDirOf(options: NpzOptions): string {
  return options.cacheDir ?? join(process.env['DCIGN_CACHE'] ?? join(homedir(), '.cache', 'dcign'), 'npz');
}

function openMember(fd: number, path: string, m: ZipMember, options: NpzOptions, fds: number[]): ArraySource {
  const where = `${path} member '${m.name}'`;
  const start = dataOffset(fd, path, m);
  if (m.method === 0) {
    const header = parseNpyHeader(readAt(fd, start, Math.min(m.size, 65536 + 12)), where);
    return checkLength(onDisk(header, fd, start, where), m.size, where);
  }
  if (m.method !== 8) {
    const what = `member '${m.name}' uses zip method ${m.method} (only stored and deflated are supported)`;
    throw new NpzFormatError(path, what);
  }
  const limit = options.inMemoryLimitBytes ?? 256 * 1024 * 1024;
  if (m.size <= limit) {
    let npy: Buffer;
    try {
      npy = inflateRawSync(readAt(fd, start, m.compressedSize));
    } catch (err) {
      throw new NpzFormatError(path, `member '${m.name}' does not inflate: ${(err as Error).message}`);
    }
    if (npy.length !== m.size) {
      throw new NpzFormatError(path, `member '${m.name}' inflates to ${npy.length} bytes, not ${m.size}`);
    }
    return checkLength(inMemory(parseNpyHeader(npy, where), npy), m.size, where);
  }
  // Large: read the header from a partial inflate, then inflate the whole member once to a cache file.
  const head = inflateRawSync(readAt(fd, start, Math.min(m.compressedSize, 4096)), {
    finishFlush: zlibConstants.Z_SYNC_FLUSH,
  });
  parseNpyHeader(head, where);
  const stat = statSync(path);
  const key = createHash('sha256')
    .update(`${resolve(path)}\0${stat.size}\0${stat.mtimeMs}\0${m.name}\0${m.localHeaderOffset}`)
    .digest('hex')
    .slice(0, 24);
  const dir = cacheDirOf(options);
  const cached = join(dir, `${key}.npy`);
  if (!existsSync(cached) || statSync(cached).size !== m.size) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    process.stderr.write(`inflating ${m.name} of ${path} (${(m.size / 2 ** 20).toFixed(0)} MiB) into ${cached} once\n`);
    try {
      const args = ['-e', INFLATE_CHILD, path, String(start), String(start + m.compressedSize), tmp, cached];
      execFileSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
      throw new NpzFormatError(path, `member '${m.name}' does not inflate: ${stderr ?? (err as Error).message}`);
    }
    if (statSync(cached).size !== m.size) {
      throw new NpzFormatError(path, `member '${m.name}' inflates to the wrong size`);
    }
  }
  const cfd = openSync(cached, 'r');
  fds.push(cfd);
  const header = parseNpyHeader(readAt(cfd, 0, 65536 + 12), `${cached}`);
  return checkLength(onDisk(header, cfd, 0, cached), m.size, where);
}

const ITEM_SIZES: Readonly<Record<string, number>> = {
  '|u1': 1, '|i1': 1, '|b1': 1, '<u2': 2, '<i2': 2, '<f2': 2, '<u4': 4, '<i4': 4, '<f4': 4,
  '<u8': 8, '<i8': 8, '<f8': 8, '>i8': 8, '>f8': 8, '>i4': 4, '>f4': 4, '<U1': 4, '|O': 8,
};

function checkLength(src: ArraySource, memberSize: number, where: string): ArraySource {
  const item = ITEM_SIZES[src.header.descr];
  if (item === undefined) return src; // the dtype check names the problem
  const need = src.header.dataOffset + src.header.shape.reduce((a, b) => a * b, 1) * item;
  if (need > memberSize) {
    const shape = src.header.shape.join(', ');
    throw new Error(`${where}: array of shape (${shape}) needs ${need} bytes, the member has ${memberSize}`);
  }
  return src;
}

function expectArray(src: ArraySource, name: string, path: string, dtypes: readonly string[], ndims: readonly number[]): void {
  const { descr, fortranOrder, shape } = src.header;
  if (!dtypes.includes(descr)) {
    const expected = dtypes.map((d) => `'${d}'`).join(' or ');
    throw new NpzFormatError(path, `array '${name}' has dtype '${descr}', expected ${expected}`);
  }
  if (fortranOrder) throw new NpzFormatError(path, `array '${name}' is in Fortran order; save it C-contiguous`);
  if (!ndims.includes(shape.length)) {
    throw new NpzFormatError(path, `array '${name}' has shape (${shape.join(', ')}), expected ${ndims.join(' or ')} dimensions`);
  }
}

function readWholeNumbers(src: ArraySource): Float64Array {
  const { descr, shape } = src.header;
  const count = shape.reduce((a, b) => a * b, 1);
  const item = ITEM_SIZES[descr] as number;
  const bytes = Buffer.alloc(count * item);
  src.read(0, bytes.length, bytes);
  // DataView reads are little-endian whatever the host, and V8 compiles them to plain loads.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(count);
  if (descr === '<i8') {
    // Exact for |v| < 2^53; latent classes are small.
    for (let i = 0; i < count; i++) out[i] = view.getUint32(8 * i, true) + view.getInt32(8 * i + 4, true) * 4294967296;
  } else if (descr === '<i4') {
    for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true);
  } else if (descr === '<f8') {
    for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
  } else {
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
  }
  return out;
}

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
