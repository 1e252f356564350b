// Animated GIFs of image sequences (latent traversals), encoded by gifenc: one palette for all frames, so a traversal
// does not flicker; grey images keep their 256 levels exactly.
import { writeFile } from 'node:fs/promises';

import gifenc from 'gifenc';

export interface GifFrames {
  /** count x height x width x channels, values in [0, 1]. */
  readonly data: Float32Array;
  readonly count: number;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
}

/** GIF bytes of the frames, each pixel repeated `scale` times, `delayMs` per frame, looping. */
export function encodeGif(frames: GifFrames, opts: { scale?: number; delayMs?: number } = {}): Uint8Array {
  const { data, count, width, height, channels } = frames;
  if (data.length !== count * width * height * channels) {
    throw new RangeError(`GIF frames have ${data.length} values, expected ${count}x${height}x${width}x${channels}`);
  }
  const scale = opts.scale ?? 1;
  const w = width * scale;
  const h = height * scale;
  const rgba = new Uint8Array(count * w * h * 4);
  for (let f = 0; f < count; f++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = ((f * height + Math.floor(y / scale)) * width + Math.floor(x / scale)) * channels;
        const dst = ((f * h + y) * w + x) * 4;
        for (let c = 0; c < 3; c++) rgba[dst + c] = Math.round(255 * Math.min(1, Math.max(0, data[src + (channels === 1 ? 0 : c)] as number)));
        rgba[dst + 3] = 255;
      }
    }
  }
  const palette = channels === 1 ? Array.from({ length: 256 }, (_, v) => [v, v, v]) : gifenc.quantize(rgba, 256);
  const gif = gifenc.GIFEncoder();
  const frameSize = w * h * 4;
  for (let f = 0; f < count; f++) {
    const frame = rgba.subarray(f * frameSize, (f + 1) * frameSize);
    const index = channels === 1 ? Uint8Array.from({ length: w * h }, (_, p) => frame[p * 4] as number) : gifenc.applyPalette(frame, palette);
    gif.writeFrame(index, w, h, { palette, delay: opts.delayMs ?? 120, ...(f === 0 ? { repeat: 0 } : {}) });
  }
  gif.finish();
  return gif.bytes();
}

export async function writeGif(file: string, frames: GifFrames, opts: { scale?: number; delayMs?: number } = {}): Promise<void> {
  await writeFile(file, encodeGif(frames, opts));
}
