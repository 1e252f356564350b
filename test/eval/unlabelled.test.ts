// The sweep's evaluate step on an unlabelled dataset (images without factors): it does not fail, computes what needs
// no factors, and says which metrics were skipped and why in metrics.json and in the trial run's tags (real MLflow).
import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDataset } from '../../src/data/index.js';
import { MlflowClient } from '../../src/tracking/index.js';
import { VaeModel } from '../../src/model/vae.js';
import { CHECKPOINT_FORMAT, checksumOf, saveCheckpoint } from '../../src/train/checkpoint.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { evaluateTrial } from '../../workers/evaluate.js';
import { testMlflowServer } from '../helpers/mlflow.js';
import { npy, zip } from '../helpers/npz.js';

test('evaluating on unlabelled images reports active units and names every skipped metric, in the report and the run tags', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'dcign-eval-unlabelled-'));
  const server = await testMlflowServer();
  const saved = process.env['MLFLOW_TRACKING_URI'];
  process.env['MLFLOW_TRACKING_URI'] = server.uri; // evaluateTrial's client reads it, as on a worker
  const client = new MlflowClient({ trackingUri: server.uri });
  try {
    const n = 20;
    const imgs = new Uint8Array(n * 32 * 32).map((_, i) => ((Math.floor(i / 1024) * 37 + (i % 32) * 5) % 256));
    const file = path.join(dir, 'unlabelled.npz');
    await writeFile(file, zip([{ name: 'imgs.npy', data: npy('|u1', [n, 32, 32], imgs) }]));
    const dataset = `npz:${file}`;
    const cfg = resolveTrainConfig({ dataset, model: { imageSize: 32, latentSize: 3 }, runDir: dir });
    const ds = openDataset(dataset);
    const model = new VaeModel(cfg.model, 0, { factors: ds.factors, channels: ds.channels });
    const params = model.net.readFlat();
    const specs = model.net.params.map((v) => ({ name: v.name, shape: v.shape }));
    model.dispose();
    const checkpoint = await saveCheckpoint(dir, {
      state: { format: CHECKPOINT_FORMAT, step: 1, adamT: 1, sampler: {}, params: specs, checksum: checksumOf(params) },
      config: cfg,
      params,
      adamM: new Float32Array(params.length),
      adamV: new Float32Array(params.length),
    });
    const experimentId = await client.getOrCreateExperiment('eval-unlabelled');
    const run = await client.createRun({ experimentId, runName: 'unlabelled' });
    const evaluation = { enabled: true, metrics: ['mig', 'beta-vae'], numTrain: 64, numTest: 32 };
    const metrics = await evaluateTrial({
      trialKey: 'unlabelled',
      checkpointPath: checkpoint,
      dataset,
      evaluation,
      seed: 0,
      mlflowRunId: run.info.runId,
    });
    // Active units and the posterior audit need no factors; every factor metric is skipped.
    // 'prior broken' (a smear test for binary sprites) is left out: these grey images fail it themselves
    t.deepEqual(Object.keys(metrics).sort(), ['active_units', 'posterior_kl_lower_bound', 'posterior_tc', 'prior_blank']);
    const posterior = JSON.parse(await readFile(path.join(dir, 'eval', 'posterior.json'), 'utf8')) as { prior: { brokenNotApplicable?: string } };
    t.regex(posterior.prior.brokenNotApplicable ?? '', /built for binary sprites/);
    const report = JSON.parse(await readFile(path.join(dir, 'eval', 'metrics.json'), 'utf8')) as { skipped: Record<string, string> };
    t.deepEqual(Object.keys(report.skipped).sort(), ['beta_vae', 'dci', 'explicitness', 'factor_vae', 'irs', 'mig', 'sap']);
    const tags = (await client.getRun(run.info.runId)).data.tags;
    t.is(tags['dcign.eval.skipped'], 'mig,sap,explicitness,dci,irs,beta_vae,factor_vae');
    t.regex(tags['dcign.eval.skipped_reason'] ?? '', /is unlabelled \(no ground-truth factors\).*UDR/);
    const files = (await client.listArtifactsRecursive(run.info.runId)).map((f) => f.path);
    t.true(files.includes('eval/metrics.json'), files.join(', '));
    t.false(files.includes('eval/mi-heatmap.png'), 'no heatmap without factors');
  } finally {
    if (saved === undefined) delete process.env['MLFLOW_TRACKING_URI'];
    else process.env['MLFLOW_TRACKING_URI'] = saved;
    client.close();
    await server.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});
