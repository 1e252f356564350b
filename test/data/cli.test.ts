import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { dataCommand } from '../../src/cli/commands/data.js';
import { datasetInfo, formatInfo, previewGrid, runDataPreview } from '../../src/data/cli.js';
import { openDataset } from '../../src/data/index.js';
import { decodePng } from '../../src/viz/png.js';

const dir = mkdtempSync(join(tmpdir(), 'dcign-data-cli-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** Parses like the real CLI but reports a validation failure as a rejected promise instead of exiting. */
async function parse(args: string[]): Promise<void> {
  await yargs()
    .command(dataCommand)
    .strict()
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    })
    .parseAsync(args);
}

test('validation refuses bad arguments before any handler runs', async (t) => {
  await t.throwsAsync(parse(['data', 'preview', 'dsprites']), { message: /Missing required argument: out/ });
  await t.throwsAsync(parse(['data', 'preview', 'dsprites', '--out', 'x.jpg']), { message: /--out must name a \.png/ });
  await t.throwsAsync(parse(['data', 'preview', 'dsprites', '--out', 'x.png', '--columns', '0']), {
    message: /--columns must be an integer in \[1, 64\]/,
  });
  await t.throwsAsync(parse(['data', 'info', 'dsprites', '--image-size', '7']), { message: /--image-size must be/ });
  await t.throwsAsync(parse(['data', 'info', 'npz:/x.npz', '--image-size', '32']), { message: /npz file has its own/ });
  await t.throwsAsync(parse(['data']), { message: /Name a data command/ });
});

test('preview through the command writes one row per factor', async (t) => {
  const out = join(dir, 'cmd.png');
  await parse(['data', 'preview', 'dsprites-small', '--out', out, '--columns', '4']);
  const png = decodePng(readFileSync(out));
  // 5 factors x 4 columns of 32-pixel tiles with 2-pixel padding.
  t.deepEqual([png.width, png.height], [4 * 32 + 5 * 2, 5 * 32 + 6 * 2]);
});

test('info lists factors, sizes and values', (t) => {
  const text = formatInfo(openDataset('dsprites'));
  t.regex(text, /combinations 737,280 \(3 x 6 x 40 x 32 x 32\)/);
  t.regex(text, /shape\s+3\s+square, ellipse, heart/);
  const info = datasetInfo(openDataset('scenes'));
  t.deepEqual(
    info.factors.map((f) => [f.name, f.size]),
    [
      ['identity', 6],
      ['azimuth', 24],
      ['elevation', 6],
      ['light', 9],
    ],
  );
});

test('preview rows vary only their own factor', (t) => {
  const ds = openDataset('dsprites-small');
  const { image, rows, columns } = previewGrid(ds, { columns: 3, padding: 0, seed: 2 });
  t.deepEqual(rows, ['shape', 'scale', 'orientation', 'posX', 'posY']);
  t.is(columns, 3);
  t.deepEqual([image.width, image.height], [96, 160]);
  // Within each row the tiles differ (the factor moves) ...
  const tile = (r: number, c: number): number[] => {
    const px: number[] = [];
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) px.push(image.data[(r * 32 + y) * 96 + c * 32 + x] as number);
    }
    return px;
  };
  for (let r = 0; r < 5; r++) t.notDeepEqual(tile(r, 0), tile(r, 2));
});

test('runDataPreview writes the PNG atomically where asked', async (t) => {
  const out = join(dir, 'sub', 'scenes.png');
  await runDataPreview('scenes', out, { columns: 2 });
  t.is(decodePng(readFileSync(out)).width, 2 * 64 + 3 * 2);
});
