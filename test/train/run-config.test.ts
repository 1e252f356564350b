// `dcign train --config run.yaml`: the dataset/model/train sections of a spec drive one run (a DCIGN assignment,
// which no flag can express), flags override the file, and bad fields are refused before anything trains.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import test from 'ava';
import { stringify } from 'yaml';

import { runCli, type CliOutcome } from '../helpers/cli.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'dcign-run-config-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

async function dcign(args: string[]): Promise<CliOutcome> {
  const env: NodeJS.ProcessEnv = { ...process.env, DCIGN_STATE_DIR: path.join(tmp, 'state') };
  delete env.MLFLOW_TRACKING_URI;
  return runCli(args, env);
}

function writeConfig(name: string, body: unknown): string {
  const file = path.join(tmp, name);
  writeFileSync(file, stringify(body));
  return file;
}

const assignment = { azimuth: [0], elevation: [1], light: [2], identity: [3, 4, 5] };
const RUN = {
  dataset: 'faces',
  model: { variant: 'dcign', imageSize: 32, latentSize: 6, beta: 1, dcign: { clamp: 'mean', assignment } },
  train: { steps: 50, batchSize: 8, learningRate: 0.0005, logEvery: 1, checkpointEvery: 0, evalBatches: 1, evalBatchSize: 8 },
};

test('a run config file trains DCIGN with its assignment; flags override the file', async (t) => {
  const file = writeConfig('run.yaml', RUN);
  const r = await dcign(['train', '--config', file, '--steps', '3', '--no-mlflow', '--json', '--run-dir', path.join(tmp, 'run')]);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const start = lines.find((l) => l.type === 'start') as { config: { steps: number; batchSize: number; learningRate: number; dataset: string; model: { variant: string; latentSize: number; dcign: { assignment: unknown } } } };
  t.is(start.config.dataset, 'faces');
  t.is(start.config.steps, 3, '--steps overrides train.steps');
  t.is(start.config.batchSize, 8, 'train.batchSize from the file');
  t.is(start.config.learningRate, 0.0005);
  t.is(start.config.model.variant, 'dcign');
  t.deepEqual(start.config.model.dcign.assignment, assignment);
  t.deepEqual(lines.filter((l) => l.type === 'log').map((l) => l.step), [1, 2, 3]);
  t.like(lines.find((l) => l.type === 'done'), { result: { status: 'completed', step: 3 } });
});

test('unknown fields are refused naming the allowed ones, before anything trains', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['train-key.yaml', { ...RUN, train: { ...RUN.train, stpes: 10 } }, /train\.stpes is not a known field; allowed: steps, batchSize/],
    ['model-key.yaml', { ...RUN, model: { ...RUN.model, latent: 4 } }, /model\.latent is not a known field; allowed: variant, architecture/],
    ['nested-key.yaml', { ...RUN, model: { ...RUN.model, dcign: { clmap: 'mean' } } }, /model\.dcign\.clmap is not a known field; allowed: assignment, clamp/],
    ['top-key.yaml', { ...RUN, optimizer: 'adam' }, /optimizer is not a known field; allowed: dataset, model, train/],
    ['sweep.yaml', { ...RUN, search: { seeds: [0, 1] } }, /search belongs to a sweep spec .*dcign sweep start/],
  ];
  for (const [name, body, message] of cases) {
    const runDir = path.join(tmp, `never-${name}`);
    const r = await dcign(['train', '--config', writeConfig(name, body), '--no-mlflow', '--json', '--run-dir', runDir]);
    t.is(r.code, 1, `${name}: ${r.stdout}`);
    t.regex(r.stderr, message, name);
    t.false(r.stdout.includes('"type":"start"'), `${name}: nothing started`);
  }
  const missing = await dcign(['train', '--config', path.join(tmp, 'nope.yaml'), '--no-mlflow']);
  t.regex(missing.stderr, /run config .*nope\.yaml: cannot be read \(ENOENT\)/);
  const both = await dcign(['train', '--config', writeConfig('ok.yaml', RUN), '--resume', path.join(tmp, 'run'), '--no-mlflow']);
  t.regex(both.stderr, /--config and --resume cannot be combined/);
});
