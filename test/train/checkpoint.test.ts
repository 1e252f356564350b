// Checkpoint files that are damaged on disk: every load names the file, says what is wrong and what to do.
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import { CHECKPOINT_FORMAT, CorruptCheckpointError, loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';

async function withCheckpoint(damage: (dir: string) => Promise<void>): Promise<Error> {
  const run = await mkdtemp(join(tmpdir(), 'dcign-ckpt-test-'));
  try {
    const params = Float32Array.from([1, 2, 3, 4]);
    const dir = await saveCheckpoint(run, {
      state: { format: CHECKPOINT_FORMAT, step: 7, adamT: 7, sampler: {} as never, params: [{ name: 'w', shape: [2, 2] }], checksum: 10 },
      config: { dataset: 'dsprites-small' },
      params,
      adamM: new Float32Array(4),
      adamV: new Float32Array(4),
    });
    const intact = await loadCheckpoint(dir);
    if (intact.state.step !== 7) throw new Error('the intact checkpoint did not load');
    await damage(dir);
    return await loadCheckpoint(run).then(
      () => new Error('loaded a damaged checkpoint'),
      (err: unknown) => err as Error,
    );
  } finally {
    await rm(run, { recursive: true, force: true });
  }
}

const cases: [string, string, (dir: string) => Promise<void>, RegExp][] = [
  ['state.json that is not JSON', 'state.json', (d) => writeFile(join(d, 'state.json'), '{"format": "dcign-'), /is not valid JSON/],
  ['config.json that is not JSON', 'config.json', (d) => writeFile(join(d, 'config.json'), 'nope'), /is not valid JSON/],
  ['a truncated params.bin', 'params.bin', (d) => truncate(join(d, 'params.bin'), 6), /holds 6 bytes/],
  ['a missing adam-v.bin', 'adam-v.bin', (d) => rm(join(d, 'adam-v.bin')), /cannot be read \(ENOENT\)/],
  ['params.bin with changed values', 'params.bin', (d) => writeFile(join(d, 'params.bin'), Buffer.from(Float32Array.from([1, 2, 3, 5]).buffer)), /sum to 11 but state\.json recorded 10/],
];

for (const [what, file, damage, problem] of cases) {
  test(`${what}: the error names ${file}, the problem and what to do`, async (t) => {
    const err = await withCheckpoint(damage);
    t.true(err instanceof CorruptCheckpointError, err.message);
    t.regex(err.message, new RegExp(`step-00000007/${file.replace('.', '\\.')}: `));
    t.regex(err.message, problem);
    t.regex(err.message, /Resume from an earlier checkpoint/);
  });
}
