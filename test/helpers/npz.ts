// Writes .npy arrays and .npz (zip) files in the formats numpy uses, so data tests need no Python.
// np.savez stores members; np.savez_compressed deflates them; numpy (through Python's zipfile with force_zip64) adds
// zip64 extra fields, which `zip64: true` imitates in the central directory.
import { crc32, deflateRawSync } from 'node:zlib';

export type NpyDtype = '|u1' | '<i8' | '<f8' | '<f4' | '<i4';

/** An .npy file (format 1.0): magic, header dict padded to a multiple of 64 bytes, then C-order data. */
export function npy(descr: string, shape: readonly number[], data: Uint8Array, fortranOrder = false): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': ${fortranOrder ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(10);
  prefix[0] = 0x93;
  prefix.write('NUMPY', 1, 'latin1');
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), body]);
}

export function int64Bytes(values: readonly number[]): Uint8Array {
  const b = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => b.writeBigInt64LE(BigInt(v), i * 8));
  return b;
}

export function float64Bytes(values: readonly number[]): Uint8Array {
  return new Uint8Array(Float64Array.from(values).buffer);
}

export interface ZipEntry {
  readonly name: string;
  readonly data: Uint8Array;
  readonly deflate?: boolean;
}

/** A zip archive of the entries; `zip64` writes zip64 extended information for sizes and offsets. */
export function zip(entries: readonly ZipEntry[], options: { zip64?: boolean } = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const body = e.deflate === true ? deflateRawSync(e.data) : Buffer.from(e.data);
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(e.deflate === true ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, body);
    const extra = Buffer.alloc(options.zip64 === true ? 28 : 0);
    if (options.zip64 === true) {
      extra.writeUInt16LE(0x0001, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(e.data.length), 4);
      extra.writeBigUInt64LE(BigInt(body.length), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(45, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(e.deflate === true ? 8 : 0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(options.zip64 === true ? 0xffffffff : body.length, 20);
    central.writeUInt32LE(options.zip64 === true ? 0xffffffff : e.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(extra.length, 30);
    central.writeUInt32LE(options.zip64 === true ? 0xffffffff : offset, 42);
    centrals.push(central, name, extra);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const tail: Buffer[] = [];
  if (options.zip64 === true) {
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0);
    record.writeBigUInt64LE(44n, 4);
    record.writeUInt16LE(45, 12);
    record.writeUInt16LE(45, 14);
    record.writeBigUInt64LE(BigInt(entries.length), 24);
    record.writeBigUInt64LE(BigInt(entries.length), 32);
    record.writeBigUInt64LE(BigInt(cd.length), 40);
    record.writeBigUInt64LE(BigInt(offset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(offset + cd.length), 8);
    locator.writeUInt32LE(1, 16);
    tail.push(record, locator);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(options.zip64 === true ? 0xffffffff : offset, 16);
  return Buffer.concat([...locals, cd, ...tail, eocd]);
}

export interface DspritesLikeFixture {
  /** The .npz bytes. */
  readonly bytes: Buffer;
  /** Rows in file order: latent classes (colour first, constant) and the image. */
  readonly rows: { classes: number[]; image: Uint8Array }[];
  readonly imageSize: number;
}

/**
 * A small dSprites-format file: latents (color=1 value, shape=3, scale=2, orientation=2, posX=2, posY=2), rows in
 * row-major order (or shuffled), each image a distinct deterministic pattern of 0/1 bytes.
 */
export function dspritesLikeNpz(
  options: { imageSize?: number; deflate?: boolean; zip64?: boolean; shuffle?: boolean } = {},
): DspritesLikeFixture {
  const size = options.imageSize ?? 8;
  const counts = [1, 3, 2, 2, 2, 2];
  const rows: { classes: number[]; image: Uint8Array }[] = [];
  const total = counts.reduce((a, b) => a * b, 1);
  for (let r = 0; r < total; r++) {
    const classes: number[] = [];
    let rest = r;
    for (let c = counts.length - 1; c >= 0; c--) {
      classes.unshift(rest % (counts[c] as number));
      rest = Math.floor(rest / (counts[c] as number));
    }
    const image = new Uint8Array(size * size);
    for (let p = 0; p < image.length; p++) {
      image[p] = ((p * 7 + r * 13) % 5 === 0 ? 1 : 0) | (p === r % image.length ? 1 : 0);
    }
    rows.push({ classes, image });
  }
  if (options.shuffle === true) rows.reverse();
  const latentValue = (c: number, k: number): number => [1, k + 1, 0.5 + 0.5 * k, k * Math.PI, k, k][c] as number;
  const imgs = new Uint8Array(rows.length * size * size);
  rows.forEach((row, i) => imgs.set(row.image, i * size * size));
  const classes = rows.flatMap((row) => row.classes);
  const values = rows.flatMap((row) => row.classes.map((k, c) => latentValue(c, k)));
  const deflate = options.deflate ?? false;
  const bytes = zip(
    [
      { name: 'imgs.npy', data: npy('|u1', [rows.length, size, size], imgs), deflate },
      { name: 'latents_classes.npy', data: npy('<i8', [rows.length, 6], int64Bytes(classes)), deflate },
      { name: 'latents_values.npy', data: npy('<f8', [rows.length, 6], float64Bytes(values)), deflate },
    ],
    { zip64: options.zip64 },
  );
  return { bytes, rows, imageSize: size };
}
