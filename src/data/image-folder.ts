// A folder of PNG or JPEG images as an unlabelled training dataset (`images:<folder>`). The images are decoded,
// centre-cropped to squares and resized once by a child process (image-folder-child.ts, with sharp), and cached as raw
// bytes under $DCIGN_CACHE/datasets (default ~/.cache/dcign/datasets), keyed by a hash of the files' names and
// contents and by the image size; later opens read the cache. Grey when every image is grey, RGB otherwise.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImageListDataset } from './image-list.js';

export interface ImageFolderOptions {
  /** Side of the square images after resizing (default 64). */
  readonly imageSize?: number;
  /** Where resized images are cached (default $DCIGN_CACHE/datasets or ~/.cache/dcign/datasets). */
  readonly cacheDir?: string;
}

const EXTENSIONS = /\.(png|jpe?g)$/i;
const CHILD = fileURLToPath(new URL('./image-folder-child.js', import.meta.url));

/** The image files of a folder (not its subfolders), sorted by name; a clear error when there are none. */
export function imageFiles(folder: string): string[] {
  if (!existsSync(folder)) throw new Error(`image folder ${folder} does not exist; give a folder of .png or .jpg images`);
  if (!statSync(folder).isDirectory()) {
    throw new Error(`${folder} is not a folder; 'images:' takes a folder of .png or .jpg images (an .npz goes with 'npz:')`);
  }
  const files = readdirSync(folder)
    .filter((f) => EXTENSIONS.test(f))
    .sort()
    .map((f) => join(folder, f));
  if (files.length === 0) throw new Error(`image folder ${folder} has no .png, .jpg or .jpeg files`);
  return files;
}

interface CacheMeta {
  readonly count: number;
  readonly imageSize: number;
  readonly channels: 1 | 3;
  readonly files: readonly string[];
}

/** Grey when every file is: PNG colour types 0 and 4 (grey, grey + alpha), JPEG with one component. */
function isGrey(bytes: Buffer): boolean {
  if (bytes.length > 26 && bytes.readUInt32BE(0) === 0x89504e47) return bytes[25] === 0 || bytes[25] === 4;
  // JPEG: the start-of-frame segment (SOF0..SOF15 but DHT, JPG, DAC) carries the number of components.
  for (let at = 2; at + 9 < bytes.length; ) {
    if (bytes[at] !== 0xff) return false;
    const marker = bytes[at + 1] as number;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return bytes[at + 9] === 1;
    }
    at += 2 + bytes.readUInt16BE(at + 2);
  }
  return false;
}

export function openImageFolder(folder: string, options: ImageFolderOptions = {}): ImageListDataset {
  const imageSize = options.imageSize ?? 64;
  if (!Number.isInteger(imageSize) || imageSize < 8 || imageSize > 512) {
    throw new RangeError(`image size must be an integer in [8, 512], got ${imageSize}`);
  }
  const files = imageFiles(folder);
  const hash = createHash('sha256');
  let grey = true;
  for (const file of files) {
    const bytes = readFileSync(file);
    hash.update(`${file.slice(folder.length)}\0${bytes.length}\0`).update(bytes);
    if (grey && !isGrey(bytes)) grey = false;
  }
  const channels = grey ? 1 : 3;
  const dir = options.cacheDir ?? join(process.env['DCIGN_CACHE'] ?? join(homedir(), '.cache', 'dcign'), 'datasets');
  const key = `${hash.digest('hex').slice(0, 24)}-${imageSize}`;
  const dataPath = join(dir, `${key}.u8`);
  const metaPath = join(dir, `${key}.json`);
  const bytesPerImage = imageSize * imageSize * channels;
  if (!existsSync(metaPath) || !existsSync(dataPath) || statSync(dataPath).size !== files.length * bytesPerImage) {
    mkdirSync(dir, { recursive: true });
    process.stderr.write(`resizing ${files.length} images of ${folder} to ${imageSize}x${imageSize} into ${dataPath} once\n`);
    try {
      execFileSync(process.execPath, [CHILD, dataPath, String(imageSize), String(channels), ...files], {
        stdio: ['ignore', 'ignore', 'pipe'],
        maxBuffer: 1 << 20,
      });
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
      throw new Error(`image folder ${folder}: ${stderr || (err as Error).message}`);
    }
    const meta: CacheMeta = { count: files.length, imageSize, channels, files: files.map((f) => resolve(f)) };
    writeFileSync(metaPath, `${JSON.stringify(meta)}\n`);
  }
  const data = readFileSync(dataPath);
  if (data.length !== files.length * bytesPerImage) {
    throw new Error(`image cache ${dataPath} has ${data.length} bytes, expected ${files.length * bytesPerImage}; delete it and retry`);
  }
  return new ImageListDataset({
    name: `images:${folder}`,
    imageSize,
    channels,
    count: files.length,
    factors: [],
    classes: new Int32Array(0),
    read: (i, out, offset) => {
      const at = i * bytesPerImage;
      for (let j = 0; j < bytesPerImage; j++) out[offset + j] = (data[at + j] as number) / 255;
    },
  });
}
