// PNG encoding of grey or RGB images (Float32 in [0, 1] or Uint8 in [0, 255]) with pngjs, and atomic file writes:
// the bytes go to a temporary file in the target directory, which is then renamed over the target, so a reader never
// sees half a PNG.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PNG } from 'pngjs';

export interface Image {
  readonly width: number;
  readonly height: number;
  /** 1 (grey) or 3 (RGB); 4 (RGBA) is accepted too. */
  readonly channels: 1 | 3 | 4;
  /** Row-major HWC values: Float32Array in [0, 1] (clamped) or Uint8Array in [0, 255]. */
  readonly data: Float32Array | Uint8Array;
}

export function encodePng(image: Image): Buffer {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`PNG size must be positive integers, got ${width}x${height}`);
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new RangeError(`PNG channels must be 1, 3 or 4, got ${String(channels)}`);
  }
  if (data.length !== width * height * channels) {
    throw new RangeError(`image data has ${data.length} values, expected ${width}x${height}x${channels}`);
  }
  const png = new PNG({ width, height });
  const rgba = png.data;
  const toByte =
    data instanceof Float32Array
      ? (v: number) => (v >= 1 ? 255 : v > 0 ? Math.round(v * 255) : 0) // NaN maps to 0
      : (v: number) => v;
  for (let p = 0; p < width * height; p++) {
    const src = p * channels;
    const dst = p * 4;
    if (channels === 1) {
      const g = toByte(data[src] as number);
      rgba[dst] = g;
      rgba[dst + 1] = g;
      rgba[dst + 2] = g;
      rgba[dst + 3] = 255;
    } else {
      rgba[dst] = toByte(data[src] as number);
      rgba[dst + 1] = toByte(data[src + 1] as number);
      rgba[dst + 2] = toByte(data[src + 2] as number);
      rgba[dst + 3] = channels === 4 ? toByte(data[src + 3] as number) : 255;
    }
  }
  const colorType = channels === 1 ? 0 : channels === 3 ? 2 : 6;
  return PNG.sync.write(png, { colorType, inputColorType: 6, inputHasAlpha: true });
}

/** Decodes a PNG into 8-bit RGBA (for tests and for reading artifacts back). */
export function decodePng(bytes: Buffer): { width: number; height: number; rgba: Uint8Array } {
  const png = PNG.sync.read(bytes);
  return { width: png.width, height: png.height, rgba: new Uint8Array(png.data) };
}

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Writes bytes to path atomically (temporary file in the same directory, then rename). Creates the directory. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Synchronous twin of writeFileAtomic. */
export function writeFileAtomicSync(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Encodes and writes a PNG atomically. */
export async function writePng(path: string, image: Image): Promise<void> {
  await writeFileAtomic(path, encodePng(image));
}

export function writePngSync(path: string, image: Image): void {
  writeFileAtomicSync(path, encodePng(image));
}
