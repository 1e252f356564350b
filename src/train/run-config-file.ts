// `dcign train --config run.yaml`: one training run described as a sweep spec describes a trial, with the same
// three sections (`dataset`, `model`, `train`), so whatever a sweep can set for its trials one run can set too
// (a DCIGN assignment, InfoVAE's kernel, Adam's moments, ...). Flags given on the command line override the file.
// Unknown fields are refused naming the allowed ones, as in a spec; sweep-only fields name the command they belong to.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigError, rejectUnknownKeys, rejectUnknownModelKeys } from '../model/config.js';
import { ADAM_FIELDS, PARALLEL_FIELDS, TRAIN_SECTION_FIELDS, type TrainConfigInput } from './config.js';

const SECTIONS = ['dataset', 'model', 'train', 'parallel'];
const SWEEP_ONLY = ['name', 'search', 'replicas', 'evaluation', 'maxConcurrentTrials', 'retry', 'taskQueue', 'checkpoints', 'objective', 'earlyStopping'];

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads a run config file into the trainer's input (dataset, model, the train section at the top level). */
export function loadRunConfigFile(file: string): TrainConfigInput {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`run config ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give the path of a YAML file with dataset, model and train sections`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new Error(`run config ${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  try {
    return runConfigFrom(raw);
  } catch (err) {
    if (err instanceof ConfigError) throw new Error(`run config ${file}: ${err.field} ${err.message.slice(`invalid config: ${err.field} `.length)}`);
    throw err;
  }
}

/** The parsed file's sections as trainer input; throws ConfigError naming the field. */
export function runConfigFrom(raw: unknown): TrainConfigInput {
  if (!isRecord(raw)) throw new ConfigError('(top level)', `must be a mapping with dataset, model and train sections, got ${JSON.stringify(raw)}`);
  const sweepOnly = Object.keys(raw).filter((k) => SWEEP_ONLY.includes(k));
  if (sweepOnly.length > 0) {
    throw new ConfigError(sweepOnly[0] as string, `belongs to a sweep spec (${sweepOnly.join(', ')}), not to one training run: run the spec with \`dcign sweep start\`, or keep only ${SECTIONS.join(', ')}`);
  }
  rejectUnknownKeys(raw, SECTIONS, '');
  const out: Record<string, unknown> = {};
  if (raw.dataset !== undefined) {
    if (typeof raw.dataset !== 'string' || raw.dataset === '') throw new ConfigError('dataset', `must name a dataset, got ${JSON.stringify(raw.dataset)}`);
    out.dataset = raw.dataset;
  }
  if (raw.model !== undefined) {
    if (!isRecord(raw.model)) throw new ConfigError('model', `must be a mapping, got ${JSON.stringify(raw.model)}`);
    rejectUnknownModelKeys(raw.model);
    out.model = raw.model;
  }
  if (raw.train !== undefined) {
    if (!isRecord(raw.train)) throw new ConfigError('train', `must be a mapping, got ${JSON.stringify(raw.train)}`);
    rejectUnknownKeys(raw.train, TRAIN_SECTION_FIELDS, 'train');
    if (isRecord(raw.train.adam)) rejectUnknownKeys(raw.train.adam, ADAM_FIELDS, 'train.adam');
    Object.assign(out, raw.train);
  }
  if (raw.parallel !== undefined) {
    if (!isRecord(raw.parallel)) throw new ConfigError('parallel', `must be a mapping such as {compression: fp16}, got ${JSON.stringify(raw.parallel)}`);
    rejectUnknownKeys(raw.parallel, PARALLEL_FIELDS, 'parallel');
    if (raw.parallel.compression !== undefined) out.compression = raw.parallel.compression;
  }
  return out as TrainConfigInput;
}
