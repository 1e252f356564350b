// The .npz container: a zip of .npy files, read without a zip library. We read the zip's central directory (zip64
// included, as numpy writes it), then open each member as random access to its array's bytes:
//  - stored members are read in place, one image row at a time, by offset;
//  - deflated members up to `inMemoryLimitBytes` inflated are inflated into memory;
//  - larger deflated members (the original dSprites imgs inflate to 3 GB) are stream-inflated once into a cache file
//    by a child process (so openDataset stays synchronous and memory stays flat), then read by offset like stored ones.
// What the arrays mean (images, factor labels) is npz.ts's business.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, fstatSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { constants as zlibConstants, inflateRawSync } from 'node:zlib';

export interface NpzOptions {
  /** Deflated members whose inflated size is at most this many bytes are inflated into memory (default 256 MiB). */
  readonly inMemoryLimitBytes?: number;
  /** Where large deflated members are inflated to (default $DCIGN_CACHE/npz or ~/.cache/dcign/npz). */
  readonly cacheDir?: string;
}

export class NpzFormatError extends Error {
  constructor(path: string, what: string) {
    super(`${path}: ${what}`);
    this.name = 'NpzFormatError';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// zip

export interface ZipMember {
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
export interface ArraySource {
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

export function openMember(fd: number, path: string, m: ZipMember, options: NpzOptions, fds: number[]): ArraySource {
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

export function expectArray(src: ArraySource, name: string, path: string, dtypes: readonly string[], ndims: readonly number[]): void {
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

export function readWholeNumbers(src: ArraySource): Float64Array {
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
