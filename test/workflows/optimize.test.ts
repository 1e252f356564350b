// search.optimize against the real Temporal dev server, a real MLflow server and the real Optuna (its venv from
// scripts/setup-optuna.sh), with the fake replica (real child processes, no TensorFlow) and a planted evaluator whose
// optimum is known: TPE proposes configurations in batches, each configuration runs once per seed (a child trial in
// Temporal and MLflow), its value is the seeds' lcb, and Optuna's study holds exactly what the sweep told it.
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

import anyTest from 'ava';
import type { TestFn } from 'ava';
import { Worker } from '@temporalio/worker';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';

import { startSweep } from '../../src/sweep/control.js';
import { formatValue } from '../../src/sweep/expand.js';
import { projectRoot } from '../../src/stack/paths.js';
import { sweepWorkflowId } from '../../src/contract/index.js';
import { optunaPython } from '../../src/search/driver-client.js';
import { MlflowClient } from '../../src/tracking/index.js';
import { freePort, testMlflowServer } from '../helpers/mlflow.js';
import type { MlflowServer } from '../helpers/mlflow.js';
import { startTemporal, temporalAvailable } from '../helpers/temporal.js';
import type { TemporalTestServer } from '../helpers/temporal.js';
import { bundle, smallSpec, startWorker, tempDir, waitFor } from '../helpers/sweep-fixture.js';
import type { RunningWorker } from '../helpers/sweep-fixture.js';

type Ctx = { server: TemporalTestServer; mlflow: MlflowServer; worker: RunningWorker; runRoot: string; code: WorkflowBundleWithSourceMap };
const run = promisify(execFile);
const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
const test = anyTest as TestFn<Ctx>;
const QUEUE = 'optimize';

/** Planted: mig peaks at beta = 10 (log-parabola) plus a seed offset, so seeds differ and the lcb is below the mean. */
export function plantedMig(beta: number, seed: number): number {
  return 1 - (Math.log10(beta) - 1) ** 2 / 4 + 0.01 * seed;
}

async function plantedEvaluate(req: { trialKey: string; seed: number }): Promise<Record<string, number>> {
  const beta = Number(/beta=([^,]+)/.exec(req.trialKey)?.[1]);
  if (!Number.isFinite(beta)) throw new Error(`no beta in ${req.trialKey}`);
  return { mig: plantedMig(beta, req.seed), sap: 1 / beta };
}

/** Reads the study back with Optuna itself: [number, state, values] per trial. */
async function bestTrials(storage: string, study: string): Promise<number[]> {
  const code = `import optuna, json, sys; s = optuna.load_study(study_name=sys.argv[2], storage=sys.argv[1]); print(json.dumps(sorted(t.number for t in s.best_trials)))`;
  return JSON.parse((await run(optunaPython(), ['-c', code, storage, study])).stdout) as number[];
}

async function studyTrials(storage: string, study: string): Promise<[number, string, number[] | null][]> {
  const code = `import optuna, json, sys; s = optuna.load_study(study_name=sys.argv[2], storage=sys.argv[1]); print(json.dumps([[t.number, t.state.name, t.values] for t in s.trials]))`;
  const { stdout } = await run(optunaPython(), ['-c', code, storage, study]);
  return JSON.parse(stdout) as [number, string, number[] | null][];
}

if (!temporalAvailable()) {
  test('temporal dev server binary is missing (scripts/setup-temporal.sh)', (t) => t.fail());
} else {
  test.before(async (t) => {
    const [server, mlflow, code, runRoot] = await Promise.all([startTemporal(), testMlflowServer(), bundle(), tempDir('optimize')]);
    const worker = await startWorker({ taskQueue: QUEUE, address: server.address, slots: 4, runRoot, code, mlflowUri: mlflow.uri, evaluate: plantedEvaluate });
    t.context = { server, mlflow, worker, runRoot, code };
  });
  test.after.always(async (t) => {
    await t.context.worker?.stop().catch(() => undefined);
    await t.context.server?.stop();
    await t.context.mlflow?.dispose();
  });

  test.serial('TPE in batches over seeds: each configuration is one Optuna trial valued at its seeds\' lcb', async (t) => {
    const { server, mlflow, runRoot, code } = t.context;
    const spec = smallSpec('tpe-seeds', QUEUE, {
      train: { steps: 2, logEvery: 1, checkpointEvery: 2, fakeStepMs: 0 },
      search: { grid: undefined, seeds: [0, 1], optimize: { sampler: 'tpe', trials: 6, batch: 2, startup: 3, params: { beta: { logUniform: [0.1, 1000] } } } },
      objective: { metric: 'mig', aggregate: 'lcb', stdErrors: 2 },
      replicas: 1,
      maxConcurrentTrials: 4,
    });
    const result = await (await startSweep(server.client, spec)).result();
    t.is(result.state, 'completed');
    const search = result.search;
    if (!search) return t.fail('no search state in the sweep result');
    t.is(search.error, undefined);
    t.is(search.configs.length, 6);
    t.is(result.trials.length, 12, 'two seed trials per configuration');
    t.true(result.trials.every((x) => x.state === 'completed'), JSON.stringify(result.trials.map((x) => [x.key, x.state, x.error])));
    t.deepEqual(search.configs.map((c) => c.number).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5]);
    const byKey = new Map(result.trials.map((x) => [x.key, x]));
    for (const c of search.configs) {
      t.true(c.told);
      t.is(c.state, 'complete');
      const beta = c.params.beta as number;
      t.true(beta >= 0.1 && beta <= 1000);
      t.deepEqual(c.keys.map((k) => byKey.get(k)?.seed), [0, 1]);
      t.true(c.keys.every((k) => k.startsWith(`trial=${c.number},beta=`)));
      // lcb = mean - 2 SE over the two seeds' planted values (0.01 apart: SE = 0.005)
      // (the evaluator reads beta from the trial key, which shows 6 significant digits)
      const shown = Number(formatValue(beta));
      const seeds = [plantedMig(shown, 0), plantedMig(shown, 1)];
      const mean = (seeds[0]! + seeds[1]!) / 2;
      t.true(Math.abs((c.mean?.[0] ?? NaN) - mean) < 1e-9, `config ${c.number}: mean ${c.mean?.[0]} vs ${mean}`);
      t.true(Math.abs((c.se?.[0] ?? NaN) - 0.005) < 1e-9);
      t.true(Math.abs((c.values?.[0] ?? NaN) - (mean - 0.01)) < 1e-9, `config ${c.number}: ${c.values?.[0]} vs ${mean - 0.01}`);
    }

    // Optuna's own study: six COMPLETE trials holding exactly the values the sweep computed.
    t.truthy(search.storage?.startsWith(`sqlite:///${runRoot}`), search.storage);
    const stored = await studyTrials(search.storage as string, search.study);
    t.is(stored.length, 6);
    for (const [number, state, values] of stored) {
      t.is(state, 'COMPLETE');
      t.deepEqual(values, search.configs.find((c) => c.number === number)?.values);
    }

    // MLflow: one run per seed trial, each tagged with its configuration's objective and pareto mark.
    const client = new MlflowClient({ trackingUri: mlflow.uri });
    try {
      const runs = await client.searchRuns({ experimentIds: [result.experimentId as string], filter: `tags.mlflow.parentRunId = '${result.parentRunId}'` });
      t.is(runs.length, 12);
      for (const r of runs) {
        const key = r.data.tags['dcign.trial'] as string;
        const c = search.configs.find((x) => x.keys.includes(key));
        t.truthy(c, key);
        t.is(r.data.tags['dcign.search.config'], String(c?.number));
        t.is(Number(r.data.tags['dcign.objective.mig']), c?.values?.[0] as number);
        t.is(r.data.tags.pareto, String(c?.pareto === true));
      }
    } finally {
      client.close();
    }

    // `dcign sweep results`: configurations best first by their lcb, with mean ± se and the interval.
    const { stdout } = await run(process.execPath, [CLI, 'sweep', 'results', 'tpe-seeds', '--format', 'json', '--address', server.address]);
    const out = JSON.parse(stdout) as { configurations: Record<string, unknown>[]; study: string };
    t.is(out.study, search.study);
    const lcbs = out.configurations.map((r) => r['mig (lcb)'] as number);
    t.deepEqual(lcbs, [...lcbs].sort((a, b) => b - a));
    t.regex(String(out.configurations[0]?.['mig interval']), /^\[[-\d.e]+, [-\d.e]+\]$/);
    const table = (await run(process.execPath, [CLI, 'sweep', 'results', 'tpe-seeds', '--address', server.address])).stdout;
    t.regex(table, /configurations \(Optuna study tpe-seeds-\w+, tpe; each over 2 seed\(s\)\)/);

    // The sweep's history replays through the workflow code (the asked points are activity results in it).
    const history = await server.client.workflow.getHandle(sweepWorkflowId('tpe-seeds')).fetchHistory();
    await t.notThrowsAsync(Worker.runReplayHistory({ workflowBundle: { code: code.code } }, history, 'tpe-seeds'));
  });

  test.serial('NSGA-II over two objectives: the sweep marks the Pareto front Optuna itself computes, in results and MLflow', async (t) => {
    const { server, mlflow } = t.context;
    // mig peaks at beta 10, sap = 1/beta favours small beta: the front is the configurations with beta up to about 10.
    const spec = smallSpec('nsga2', QUEUE, {
      train: { steps: 2, logEvery: 1, checkpointEvery: 2, fakeStepMs: 0 },
      search: { grid: undefined, seeds: [0], optimize: { sampler: 'nsga2', trials: 8, batch: 2, population: 4, params: { beta: { logUniform: [0.1, 1000] } }, objectives: ['mig', 'sap'] } },
      replicas: 1,
      maxConcurrentTrials: 2,
    });
    const result = await (await startSweep(server.client, spec)).result();
    const search = result.search;
    if (!search) return t.fail('no search state');
    t.is(search.error, undefined);
    t.is(search.configs.length, 8);
    t.true(search.configs.every((c) => c.told && c.state === 'complete' && c.values?.length === 2));
    const ours = search.configs.filter((c) => c.pareto === true).map((c) => c.number).sort((a, b) => a - b);
    t.true(ours.length >= 1);
    t.deepEqual(ours, await bestTrials(search.storage as string, search.study), 'the same front as Optuna\'s best_trials');
    const client = new MlflowClient({ trackingUri: mlflow.uri });
    try {
      const runs = await client.searchRuns({ experimentIds: [result.experimentId as string], filter: `tags.mlflow.parentRunId = '${result.parentRunId}'` });
      t.is(runs.length, 8);
      const marked = runs.filter((r) => r.data.tags.pareto === 'true').map((r) => Number(r.data.tags['dcign.search.config'])).sort((a, b) => a - b);
      t.deepEqual(marked, ours);
      t.true(runs.every((r) => r.data.tags['dcign.objective.sap'] !== undefined && r.data.tags['dcign.objective.mig'] !== undefined));
    } finally {
      client.close();
    }
    const table = (await run(process.execPath, [CLI, 'sweep', 'results', 'nsga2', '--address', server.address])).stdout;
    t.regex(table, /\* = on the Pareto front/);
    const rows = (JSON.parse((await run(process.execPath, [CLI, 'sweep', 'results', 'nsga2', '--format', 'json', '--address', server.address])).stdout) as { configurations: Record<string, unknown>[] }).configurations;
    t.deepEqual(rows.filter((r) => r.pareto === '*').map((r) => r.config as number).sort((a, b) => a - b), ours);
    // front members first
    t.true(rows.slice(0, ours.length).every((r) => r.pareto === '*'));

    // `dcign sweep dashboard`: optuna-dashboard on the study's storage, on loopback, serving this study.
    const port = await freePort();
    const dash = spawn(process.execPath, [CLI, 'sweep', 'dashboard', 'nsga2', '--port', String(port), '--address', server.address], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const studies = await waitFor('optuna-dashboard', async () => {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/api/studies`);
          return res.ok ? ((await res.json()) as { study_summaries: { study_name: string }[] }) : undefined;
        } catch {
          return undefined;
        }
      }, 60_000, 500);
      t.deepEqual(studies.study_summaries.map((x) => x.study_name), [search.study]);
    } finally {
      dash.kill('SIGTERM');
    }
  });
}
