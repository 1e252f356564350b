// Decodes and resizes a folder's images once, in a child process so that openDataset stays synchronous (sharp is
// asynchronous): argv = output path, image side, channels (1 or 3), then the image files in order. Each image is
// centre-cropped to a square and resized (sharp's default Lanczos kernel), alpha is flattened onto black, and the raw
// bytes (HWC) are appended to the output. A file that does not decode ends the run with its name on stderr.
import { closeSync, openSync, renameSync, writeSync } from 'node:fs';
import sharp from 'sharp';

async function main(): Promise<void> {
  const [out, sizeText, channelsText, ...files] = process.argv.slice(2);
  const size = Number(sizeText);
  const channels = Number(channelsText);
  const tmp = `${out as string}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    for (const file of files) {
      let data: Buffer;
      try {
        let img = sharp(file).rotate().resize(size, size, { fit: 'cover' }).flatten({ background: '#000000' });
        img = channels === 1 ? img.greyscale() : img.toColourspace('srgb');
        const result = await img.raw().toBuffer({ resolveWithObject: true });
        if (result.info.channels !== channels) throw new Error(`decoded to ${result.info.channels} channels, not ${channels}`);
        data = result.data;
      } catch (err) {
        throw new Error(`${file}: cannot be decoded as an image (${(err as Error).message})`);
      }
      writeSync(fd, data);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, out as string);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
