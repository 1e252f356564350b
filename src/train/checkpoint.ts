// Checkpoints: one directory per checkpoint, written whole into a temporary sibling and renamed into place, so a
// crash never leaves a half-written checkpoint where a resume would find it.
//
//   <runDir>/checkpoints/step-00001000/
//     params.bin    float32 little-endian, parameters concatenated in paramSpecs order
//     adam-m.bin    Adam first moments, same layout
//     adam-v.bin    Adam second moments, same layout
//     state.json    {format, step, adamT, sampler, params: [{name, shape}], checksum}
//     config.json   the TrainConfig of the run
//   <runDir>/checkpoints/LATEST   name of the newest complete checkpoint (replaced atomically)
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { SamplerPosition } from '../data/types.js';

export const CHECKPOINT_FORMAT = 'dcign-checkpoint/1';

export interface CheckpointState {
  readonly format: typeof CHECKPOINT_FORMAT;
  /** Number of optimiser steps completed. */
  readonly step: number;
  readonly adamT: number;
  readonly sampler: SamplerPosition;
  readonly params: readonly { readonly name: string; readonly shape: readonly number[] }[];
  /** Sum of all parameters (float64), to spot a corrupt file. */
  readonly checksum: number;
}

export interface CheckpointData {
  readonly state: CheckpointState;
  readonly config: unknown;
  readonly params: Float32Array;
  readonly adamM: Float32Array;
  readonly adamV: Float32Array;
}

import { checkpointName } from '../contract/checkpoint.js';

export { checkpointName };

export function checksumOf(values: Float32Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i] as number;
  return s;
}

function toBuffer(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** A checkpoint that cannot be used: names the file, what is wrong with it, and what to do. */
export class CorruptCheckpointError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(
      `corrupt checkpoint file ${file}: ${problem}. ` +
        'Resume from an earlier checkpoint of the run (its checkpoints/ folder keeps each step-N) or retrain; ' +
        'a checkpoint is written whole and renamed into place, so this file was damaged after it was written.',
    );
    this.name = 'CorruptCheckpointError';
  }
}

function toFloat32(buf: Buffer, file: string, expected: number): Float32Array {
  if (buf.byteLength !== expected * 4) {
    throw new CorruptCheckpointError(file, `holds ${buf.byteLength} bytes (${buf.byteLength / 4} values), state.json says ${expected} values`);
  }
  const out = new Float32Array(expected);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

/** Writes a checkpoint atomically; returns its directory. */
export async function saveCheckpoint(runDir: string, data: CheckpointData): Promise<string> {
  const root = join(resolve(runDir), 'checkpoints');
  await mkdir(root, { recursive: true });
  const name = checkpointName(data.state.step);
  const final = join(root, name);
  const tmp = join(root, `.tmp-${name}-${process.pid}-${Date.now()}`);
  await mkdir(tmp);
  try {
    await writeFile(join(tmp, 'params.bin'), toBuffer(data.params));
    await writeFile(join(tmp, 'adam-m.bin'), toBuffer(data.adamM));
    await writeFile(join(tmp, 'adam-v.bin'), toBuffer(data.adamV));
    await writeFile(join(tmp, 'config.json'), JSON.stringify(data.config, null, 2) + '\n');
    await writeFile(join(tmp, 'state.json'), JSON.stringify(data.state, null, 2) + '\n');
    if (existsSync(final)) await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const latestTmp = join(root, `.LATEST-${process.pid}`);
  await writeFile(latestTmp, name + '\n');
  await rename(latestTmp, join(root, 'LATEST'));
  return final;
}

/** Accepts a checkpoint directory or a run directory (then its LATEST checkpoint). */
export function resolveCheckpointDir(path: string): string {
  const p = resolve(path);
  if (existsSync(join(p, 'state.json'))) return p;
  const latest = join(p, 'checkpoints', 'LATEST');
  if (existsSync(latest)) {
    return join(p, 'checkpoints', readFileSyncTrim(latest));
  }
  throw new Error(`no checkpoint at ${p}: expected a checkpoint directory (with state.json) or a run directory with checkpoints/LATEST`);
}

function readFileSyncTrim(path: string): string {
  if (!statSync(path).isFile()) throw new Error(`${path} is not a file`);
  return readFileSync(path, 'utf8').trim();
}

async function readPart(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new CorruptCheckpointError(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

async function readJson(file: string): Promise<unknown> {
  const text = (await readPart(file)).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new CorruptCheckpointError(file, `is not valid JSON (${(err as Error).message})`);
  }
}

export async function loadCheckpoint(path: string): Promise<CheckpointData> {
  const dir = resolveCheckpointDir(path);
  const stateFile = join(dir, 'state.json');
  const state = (await readJson(stateFile)) as CheckpointState;
  if (state === null || typeof state !== 'object') throw new CorruptCheckpointError(stateFile, 'does not hold an object');
  if (state.format !== CHECKPOINT_FORMAT) {
    throw new Error(
      `checkpoint ${dir} has format '${String(state.format)}', this version of dcign reads '${CHECKPOINT_FORMAT}': ` +
        'use the dcign version that wrote it',
    );
  }
  if (!Array.isArray(state.params) || !Number.isInteger(state.step) || typeof state.checksum !== 'number') {
    throw new CorruptCheckpointError(stateFile, 'lacks step, params or checksum');
  }
  const n = state.params.reduce((acc: number, p: CheckpointState['params'][number]) => acc + p.shape.reduce((a, b) => a * b, 1), 0);
  const params = toFloat32(await readPart(join(dir, 'params.bin')), join(dir, 'params.bin'), n);
  const adamM = toFloat32(await readPart(join(dir, 'adam-m.bin')), join(dir, 'adam-m.bin'), n);
  const adamV = toFloat32(await readPart(join(dir, 'adam-v.bin')), join(dir, 'adam-v.bin'), n);
  const config = await readJson(join(dir, 'config.json'));
  const sum = checksumOf(params);
  if (sum !== state.checksum) {
    throw new CorruptCheckpointError(join(dir, 'params.bin'), `its values sum to ${sum} but state.json recorded ${state.checksum}`);
  }
  return { state, config, params, adamM, adamV };
}
