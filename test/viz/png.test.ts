import test from 'ava';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePng, encodePng, writePng } from '../../src/viz/png.js';
import { tileGrid } from '../../src/viz/grid.js';

test('grey Float32 and RGB Uint8 images round-trip through PNG', (t) => {
  const grey = new Float32Array([0, 0.5, 1, 2, -1, 0.25]);
  const g = decodePng(encodePng({ width: 3, height: 2, channels: 1, data: grey }));
  t.deepEqual([g.width, g.height], [3, 2]);
  t.deepEqual(
    Array.from({ length: 6 }, (_, i) => g.rgba[i * 4]),
    [0, 128, 255, 255, 0, 64],
  );
  const rgb = new Uint8Array([255, 0, 0, 0, 255, 0]);
  const c = decodePng(encodePng({ width: 2, height: 1, channels: 3, data: rgb }));
  t.deepEqual([...c.rgba], [255, 0, 0, 255, 0, 255, 0, 255]);
  t.throws(() => encodePng({ width: 2, height: 2, channels: 1, data: new Uint8Array(3) }), {
    message: /has 3 values, expected 2x2x1/,
  });
});

test('writePng writes atomically and leaves no temporary file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dcign-png-'));
  try {
    const path = join(dir, 'sub', 'x.png');
    await writePng(path, { width: 1, height: 1, channels: 1, data: new Float32Array([1]) });
    t.deepEqual(readdirSync(join(dir, 'sub')), ['x.png']);
    t.is(decodePng(readFileSync(path)).rgba[0], 255);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tileGrid places images row by row with padding', (t) => {
  const data = new Float32Array([1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0]); // three 2x2 images
  const g = tileGrid({ data, count: 3, width: 2, height: 2, channels: 1 }, { columns: 2, padding: 1, padValue: 0.5 });
  t.deepEqual([g.width, g.height], [7, 7]);
  const at = (x: number, y: number): number => g.data[y * 7 + x] as number;
  t.is(at(0, 0), 0.5);
  t.is(at(1, 1), 1); // image 0
  t.is(at(4, 1), 0); // image 1
  t.is(at(1, 4), 1); // image 2, left column
  t.is(at(2, 4), 0);
  t.is(at(4, 4), 0.5); // empty cell
});
