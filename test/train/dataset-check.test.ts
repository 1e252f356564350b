// `dcign train` with a mistyped dataset fails before anything exists: no MLflow experiment or run (a real server).
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { MlflowClient } from '../../src/tracking/index.js';
import { runTrainCommand } from '../../src/train/cli.js';
import { testMlflowServer, type MlflowServer } from '../helpers/mlflow.js';

const test = anyTest as TestFn<{ mlflow: MlflowServer; dir: string }>;

test.before(async (t) => {
  t.context = { mlflow: await testMlflowServer(), dir: mkdtempSync(join(tmpdir(), 'dcign-typo-')) };
});

test.after.always(async (t) => {
  await t.context.mlflow?.dispose();
  if (t.context.dir) rmSync(t.context.dir, { recursive: true, force: true });
});

test('a dataset typo is refused naming the known datasets, and leaves no MLflow run behind', async (t) => {
  const { mlflow, dir } = t.context;
  const saved = process.env.MLFLOW_TRACKING_URI;
  process.env.MLFLOW_TRACKING_URI = mlflow.uri;
  try {
    await t.throwsAsync(runTrainCommand({ dataset: 'dsprite', steps: 2, mlflow: true, experiment: 'typo', runDir: join(dir, 'run'), json: true }), {
      message: "unknown dataset 'dsprite'; known: dsprites, dsprites-small, scenes, faces, shapes3d, npz:<path>, images:<folder>",
    });
    const client = new MlflowClient({ trackingUri: mlflow.uri });
    try {
      t.is(await client.getExperimentByName('typo'), undefined, 'no experiment, hence no run');
    } finally {
      client.close();
    }
  } finally {
    if (saved === undefined) delete process.env.MLFLOW_TRACKING_URI;
    else process.env.MLFLOW_TRACKING_URI = saved;
  }
});

test('an npz path that does not exist is refused the same way', async (t) => {
  await t.throwsAsync(runTrainCommand({ dataset: 'npz:/nonexistent/d.npz', mlflow: false, runDir: join(t.context.dir, 'npz'), json: true }), {
    message: /dataset file \/nonexistent\/d\.npz .*does not exist/,
  });
});
