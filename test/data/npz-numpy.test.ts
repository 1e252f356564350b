// .npz files written by numpy itself (test/fixtures/npz/make.py; the files are checked in), not by our own writer
// in test/helpers/npz.ts: bool images ('|b1'), int32 classes ('<i4') and float32 values ('<f4') from np.savez and
// np.savez_compressed; .npy format versions 2.0 and 3.0; empty arrays; a member and a file cut short. What numpy
// reads back from each good file is in <name>.expected.json, written by the same script.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import test from 'ava';

import { openDataset } from '../../src/data/index.js';
import { NpzFormatError } from '../../src/data/npz-archive.js';

const DIR = path.resolve('test/fixtures/npz');
const fixture = (name: string): string => path.join(DIR, name);

interface NumpyView {
  classes: number[][];
  values: number[][];
  imgs: number[][];
}

function numpyView(name: string): NumpyView {
  return JSON.parse(readFileSync(fixture(`${name}.expected.json`), 'utf8')) as NumpyView;
}

function checkAgainstNumpy(t: import('ava').ExecutionContext, file: string, view: NumpyView): void {
  const ds = openDataset(`npz:${fixture(file)}`);
  t.is(ds.imageSize, 8);
  t.is(ds.size, view.imgs.length);
  t.deepEqual(
    ds.factors.map((f) => [f.name, f.size]),
    [
      ['shape', 3],
      ['scale', 2],
      ['orientation', 2],
      ['posX', 2],
      ['posY', 2],
    ],
    'constant colour dropped, dSprites names kept',
  );
  // Factor values are the distinct latent values numpy holds, per column (colour dropped), in increasing order.
  ds.factors.forEach((f, c) => {
    const distinct = [...new Set(view.values.map((row) => row[c + 1] as number))].sort((a, b) => a - b);
    t.deepEqual(f.values, distinct, f.name);
  });
  const out = new Float32Array(64);
  view.classes.forEach((classes, i) => {
    ds.render(classes.slice(1), out, 0);
    t.deepEqual([...out], view.imgs[i], `row ${i} (classes ${classes.join(',')})`);
  });
}

for (const file of ['b1-i4-stored.npz', 'b1-i4-deflated.npz']) {
  test(`numpy's '|b1' images, '<i4' classes and '<f4' values (${file}) read as numpy reads them`, (t) => {
    checkAgainstNumpy(t, file, numpyView('b1-i4'));
  });
}

for (const file of ['npy-v2.npz', 'npy-v3.npz']) {
  test(`.npy format version ${file[5]}.0 members (${file}), rows shuffled, read as numpy reads them`, (t) => {
    checkAgainstNumpy(t, file, numpyView('npy-v23'));
  });
}

test('empty arrays from numpy are refused as empty', (t) => {
  t.throws(() => openDataset(`npz:${fixture('empty.npz')}`), { instanceOf: NpzFormatError, message: /empty\.npz: the arrays are empty/ });
});

test('a member numpy cannot read to the end either (imgs.npy cut short) says how many bytes are missing', (t) => {
  t.throws(() => openDataset(`npz:${fixture('truncated-member.npz')}`), {
    message: /imgs\.npy.*array of shape \(48, 8, 8\) needs \d+ bytes, the member has \d+/,
  });
});

test('an .npz file cut in half is not taken for a zip', (t) => {
  t.throws(() => openDataset(`npz:${fixture('truncated-file.npz')}`), {
    instanceOf: NpzFormatError,
    message: /truncated-file\.npz: not an \.npz file: no zip end-of-central-directory record found/,
  });
});
