// A sweep tracked in a real MLflow server: the experiment, the sweep's parent run with its results, one child run per
// trial nested under it (mlflow.parentRunId) with its parameters, evaluation metrics and final status.
import anyTest from 'ava';
import type { TestFn } from 'ava';

import { startSweep } from '../../src/sweep/control.js';
import { MlflowClient } from '../../src/tracking/index.js';
import { testMlflowServer } from '../helpers/mlflow.js';
import type { MlflowServer } from '../helpers/mlflow.js';
import { startTemporal, temporalAvailable } from '../helpers/temporal.js';
import type { TemporalTestServer } from '../helpers/temporal.js';
import { bundle, smallSpec, startWorker, tempDir } from '../helpers/sweep-fixture.js';
import type { RunningWorker } from '../helpers/sweep-fixture.js';

const test = anyTest as TestFn<{ server: TemporalTestServer; mlflow: MlflowServer; worker: RunningWorker }>;
const QUEUE = 'tracked';

if (!temporalAvailable()) {
  test('temporal dev server binary is missing (scripts/setup-temporal.sh)', (t) => t.fail());
} else {
  test.before(async (t) => {
    const [server, mlflow, code, runRoot] = await Promise.all([startTemporal(), testMlflowServer(), bundle(), tempDir('tracked')]);
    const worker = await startWorker({ taskQueue: QUEUE, address: server.address, slots: 4, runRoot, code, mlflowUri: mlflow.uri });
    t.context = { server, mlflow, worker };
  });
  test.after.always(async (t) => {
    await t.context.worker?.stop().catch(() => undefined);
    await t.context.server?.stop();
    await t.context.mlflow?.dispose();
  });

  test.serial('the sweep opens an experiment and a parent run; each trial is a nested child run with params and metrics', async (t) => {
    const { server, mlflow } = t.context;
    const spec = smallSpec('tracked', QUEUE, { search: { grid: { beta: [1, 4] }, seeds: [0] } });
    const result = await (await startSweep(server.client, spec)).result();
    t.true(result.trials.every((x) => x.state === 'completed'), JSON.stringify(result.trials.map((x) => x.error)));
    t.regex(result.experimentId ?? '', /^\d+$/);
    t.regex(result.parentRunId ?? '', /^[0-9a-f]{32}$/);

    const client = new MlflowClient({ trackingUri: mlflow.uri });
    try {
      const exp = await client.getExperimentByName('tracked');
      t.is(exp?.experimentId, result.experimentId);
      const parent = await client.getRun(result.parentRunId as string);
      t.is(parent.info.status, 'FINISHED');
      t.is(parent.data.params['model.variant'], 'beta-vae');
      const artifacts = (await client.listArtifacts(parent.info.runId)).map((a) => a.path);
      t.true(artifacts.includes('spec') && artifacts.includes('summary'), artifacts.join(', '));
      const spec = JSON.parse((await client.readArtifact(parent.info.runId, 'spec/tracked.json')).toString('utf8')) as { name: string };
      t.is(spec.name, 'tracked');
      t.is(parent.data.tags['temporal.workflowId'], 'sweep/tracked');
      const summary = (await client.listArtifacts(parent.info.runId, 'summary')).map((a) => a.path).sort();
      // one plot per metric and variant, against the variant's own parameter
      t.deepEqual(summary, ['summary/mig_beta-vae_vs_beta.png', 'summary/sap_beta-vae_vs_beta.png', 'summary/summary.csv', 'summary/summary.json', 'summary/trials.json']);
      const csv = (await client.readArtifact(parent.info.runId, 'summary/summary.csv')).toString('utf8');
      t.regex(csv, /^trial,run_id,variant,architecture,param,param_value,beta,latent_size,seed,status,mig,sap\n/);
      t.regex(csv, /beta=4,seed=0/);

      const children = await client.searchRuns({ experimentIds: [result.experimentId as string], filter: `tags.mlflow.parentRunId = '${result.parentRunId}'` });
      // Readable run names in the UI; the trial key stays in the dcign.trial tag.
      t.deepEqual(children.map((r) => r.info.runName).sort(), ['beta-vae standard beta=1 z=4 seed=0', 'beta-vae standard beta=4 z=4 seed=0']);
      for (const run of children) {
        t.is(run.info.status, 'FINISHED');
        t.is(run.data.params['model.beta'], run.info.runName.includes(' beta=4 ') ? '4' : '1');
        t.is(run.data.params.seed, '0');
        // The stand-in evaluator's MIG is beta / 100.
        t.is(run.data.metrics['eval/mig']?.value, Number(run.data.params['model.beta']) / 100, JSON.stringify(run.data.metrics));
        const trialKey = run.data.tags['dcign.trial'] as string;
        t.is(trialKey, run.info.runName.includes(' beta=4 ') ? 'beta=4,seed=0' : 'beta=1,seed=0');
        t.is(run.data.tags['temporal.workflowId'], `sweep/tracked/${trialKey}`);
        t.regex(run.data.tags['dcign.version'] ?? '', /^\d+\.\d+\.\d+/);
        t.is(result.trials.find((x) => x.key === trialKey)?.mlflowRunId, run.info.runId);
      }
    } finally {
      client.close();
    }
  });
}
