// The cluster deployment run for real in containers (`npm run test:deploy`, not part of `npm test`: it builds images
// and trains for minutes). scripts/setup-docker.sh (Docker, compose, a dockerd without bridge or firewall rules, the
// local base image) and scripts/build-images.sh (dcign-head, dcign-worker) build it; deploy/compose.yaml's head and
// cpu-workers profiles start the head container (`dcign dev up --profile cluster`: PostgreSQL, S3, Temporal server and
// UI, MLflow) and two worker containers, each on its own loopback address, all on the host network. A one-trial sweep
// of 2 replicas (the smoke spec, made small) runs with one replica in each container; once a checkpoint is stored in
// the bucket, the container holding rank 0 is `docker kill`ed, then started again (two slots are needed, one per
// container). The trial must complete with every logged loss step exactly once, as PostgreSQL holds them (psql in the
// head container), and its checkpoints whole in the S3 bucket. Containers and the volume are removed even on failure,
// and a dockerd this test started is stopped; the images stay (a warm rebuild is a cache hit).
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { Client, Connection } from '@temporalio/client';
import test from 'ava';
import { parse, stringify } from 'yaml';

import { progressQuery, sweepWorkflowId, trialProgressQuery, trialWorkflowId } from '../../src/contract/index.js';
import type { SweepProgress } from '../../src/contract/types.js';
import { pickFreePorts } from '../../src/parallel/rendezvous.js';
import { ARTIFACT_BUCKET, MLFLOW_DATABASE, POSTGRES_ROLE } from '../../src/stack/cluster-head.js';
import { projectRoot } from '../../src/stack/paths.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/sweep-fixture.js';

const run = promisify(execFile);
const PROJECT = 'dcign-deploy-test';
const QUEUE = 'dcign-deploy-test';
const WORKERS = { 'cpu-worker-1': '127.0.0.2', 'cpu-worker-2': '127.0.0.3' } as const;
const STEPS = 100;
const LOG_EVERY = 5;

async function sh(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { env: opts.env ?? process.env, timeout: opts.timeout ?? 120_000, maxBuffer: 64 << 20, cwd: projectRoot });
    return stdout;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

const dockerAnswers = (): boolean => {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
};

/** `docker compose` (the v2 plugin) where installed, else the standalone docker-compose. */
function composeCommand(): string[] {
  try {
    execFileSync('docker', ['compose', 'version'], { stdio: 'ignore' });
    return ['docker', 'compose'];
  } catch {
    return ['docker-compose'];
  }
}

const seconds = (t0: number): string => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

test('compose: the head and two worker containers run a 2-replica sweep through a docker kill; PostgreSQL and the bucket hold it whole', async (t) => {
  t.timeout(45 * 60_000);
  // Docker: the engine this machine has, else the one scripts/setup-docker.sh installs and starts (then stopped here).
  const startedDockerd = !dockerAnswers();
  if (startedDockerd) {
    t.log('no Docker engine answers: running scripts/setup-docker.sh (installs docker.io and compose, starts dockerd without bridge or firewall rules)');
    try {
      await sh('bash', ['scripts/setup-docker.sh'], { timeout: 20 * 60_000 });
    } catch (err) {
      t.fail(`DOCKER IS NOT AVAILABLE, so the deployment was not tested: ${(err as Error).message}`);
      return;
    }
  } else {
    await sh('bash', ['scripts/setup-docker.sh'], { timeout: 20 * 60_000 }); // the base image, if missing
  }
  const compose = composeCommand();
  const dir = mkdtempSync(path.join(tmpdir(), 'dcign-deploy-'));
  chmodSync(dir, 0o755);
  const [temporalPort, uiPort, mlflowPort, postgresPort, s3Port] = (await pickFreePorts(5)) as [number, number, number, number, number];
  const key = path.join(dir, 'cluster.key');
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !['TEMPORAL_ADDRESS', 'MLFLOW_TRACKING_URI', 'DCIGN_STATE_DIR'].includes(k))),
    DCIGN_HEAD: '127.0.0.1',
    DCIGN_TEMPORAL_PORT: String(temporalPort),
    DCIGN_TEMPORAL_UI_PORT: String(uiPort),
    DCIGN_MLFLOW_PORT: String(mlflowPort),
    DCIGN_POSTGRES_PORT: String(postgresPort),
    DCIGN_S3_PORT: String(s3Port),
    DCIGN_TASK_QUEUE: QUEUE,
    DCIGN_WORKER_1_HOST: WORKERS['cpu-worker-1'],
    DCIGN_WORKER_2_HOST: WORKERS['cpu-worker-2'],
    DCIGN_CLUSTER_KEY: key,
  };
  const dc = (args: string[], timeout = 300_000) =>
    sh(compose[0] as string, [...compose.slice(1), '-p', PROJECT, '-f', 'deploy/compose.yaml', '--profile', 'head', '--profile', 'cpu-workers', ...args], { env, timeout });
  const container = async (service: string): Promise<string> => (await dc(['ps', '-q', service])).trim();
  const exec = async (service: string, argv: string[]): Promise<string> => sh('docker', ['exec', await container(service), ...argv]);
  const client = { connection: undefined as Connection | undefined };
  try {
    let t0 = Date.now();
    if (process.env.DCIGN_DEPLOY_PREBUILT === '1') {
      t.log('DCIGN_DEPLOY_PREBUILT=1: NOT rebuilding the images, using dcign-head:latest and dcign-worker:latest as they are');
    } else {
      const built = await sh('bash', ['scripts/build-images.sh'], { timeout: 30 * 60_000 });
      t.log(`images built in ${seconds(t0)}:\n${built.trim()}`);
    }
    t.is((await runCli(['cluster', 'keygen', '--out', key], env)).code, 0);

    t0 = Date.now();
    await dc(['up', '-d']);
    const head = 'head';
    // `dev up` in the head returns once every server answered its health check; the entrypoint then says so.
    const headLog = await waitFor('the head container to start every server', async () => {
      const id = await container(head).catch(() => '');
      const out = id ? await sh('docker', ['logs', id]).catch(() => '') : '';
      return out.includes('[head] every server is up') ? out : undefined;
    }, 10 * 60_000, 2000);
    t.log(`compose up to a healthy head: ${seconds(t0)}`);
    for (const name of ['postgres', 's3', 'temporal', 'temporal-ui', 'mlflow']) t.regex(headLog, new RegExp(`^${name}\\s+healthy`, 'm'), headLog);
    const services = (await sh('docker', ['ps', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--format', '{{.Names}} {{.Image}} {{.Status}}'])).trim();
    t.log(`containers:\n${services}`);
    for (const w of Object.keys(WORKERS)) t.regex(services, new RegExp(`${w}.* dcign-worker:latest Up`), services);

    // The sweep, started from this host as a user would, against the head's published ports.
    const smoke = parse(readFileSync(path.join(projectRoot, 'sweeps/smoke.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
    const name = `deploy-${Date.now().toString(36)}`;
    const specFile = path.join(dir, 'deploy-smoke.yaml');
    writeFileSync(
      specFile,
      stringify({
        ...smoke,
        name,
        taskQueue: QUEUE,
        train: { ...smoke.train, steps: STEPS, logEvery: LOG_EVERY, checkpointEvery: 20 },
        search: { grid: { beta: [4] }, seeds: [0] },
        maxConcurrentTrials: 1,
        evaluation: { ...smoke.evaluation, metrics: ['mig'], numTrain: 100, numTest: 50 },
        retry: { maxGroupRestarts: 3, heartbeatTimeoutSeconds: 15 },
      }),
    );
    const userEnv = { ...env, TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`, MLFLOW_TRACKING_URI: `http://127.0.0.1:${mlflowPort}` };
    const started = await runCli(['sweep', 'start', specFile], userEnv);
    t.is(started.code, 0, `${started.stdout}\n${started.stderr}`);

    client.connection = await Connection.connect({ address: `127.0.0.1:${temporalPort}` });
    const temporal = new Client({ connection: client.connection, namespace: 'default' });
    const sweep = temporal.workflow.getHandle(sweepWorkflowId(name));
    const trialHandle = async () => {
      const key = (await sweep.query(progressQuery)).trials[0]?.key;
      return key ? temporal.workflow.getHandle(trialWorkflowId(name, key)) : undefined;
    };
    const progress = async () => (await trialHandle())?.query(trialProgressQuery).catch(() => undefined);
    const stored = await waitFor('a checkpoint of generation 0 stored in MLflow', async () => {
      const p = await progress();
      return p?.generation === 0 && p.lastCheckpoint?.uri.startsWith('runs:/') ? p.lastCheckpoint : undefined;
    }, 10 * 60_000, 1000);
    t.log(`generation 0 stored its checkpoint at step ${stored.step}`);

    // Where the replicas of generation 0 run: their config files in each container's run root.
    const replicas = async (service: string) =>
      (await exec(service, ['find', '/runs', '-name', 'replica-g*-r*.json'])).split('\n').filter((l) => l.length > 0).map((f) => {
        const m = /replica-g(\d+)-r(\d+)\.json$/.exec(f) as RegExpExecArray;
        return { service, file: f, generation: Number(m[1]), rank: Number(m[2]) };
      });
    const gen0 = (await Promise.all(Object.keys(WORKERS).map(replicas))).flat().filter((r) => r.generation === 0);
    t.is(gen0.length, 2, JSON.stringify(gen0));
    t.not(gen0[0]?.service, gen0[1]?.service, `the two replicas run in different containers: ${JSON.stringify(gen0)}`);
    for (const r of gen0) {
      const cfg = JSON.parse(await exec(r.service, ['cat', r.file])) as { bind: string };
      t.is(cfg.bind, WORKERS[r.service as keyof typeof WORKERS], `${r.service} binds its own address`);
    }
    const victim = gen0.find((r) => r.rank === 0)?.service as string;
    const victimId = await container(victim);
    t.log(`docker kill ${victim} (rank 0 of generation 0)`);
    await sh('docker', ['kill', victimId]);
    // A 2-replica trial needs two slots, one per container: the killed one comes back (its tmpfs run root empty, so
    // its replica resumes from the bucket like a new host's would).
    await new Promise((r) => setTimeout(r, 20_000));
    await sh('docker', ['start', victimId]);

    const result = (await sweep.result()) as SweepProgress;
    const trial = result.trials[0];
    t.is(trial?.state, 'completed', JSON.stringify(result.trials));
    t.is(trial?.step, STEPS);
    t.true((trial?.generation ?? 0) >= 1, `the group restarted (last generation ${trial?.generation})`);
    const final = await (await trialHandle())?.query(trialProgressQuery);
    const restart = final?.restarts.find((r) => r.generation === 0);
    t.true((restart?.resumeStep ?? 0) >= stored.step, `generation 1 resumed at step ${restart?.resumeStep}; step ${stored.step} was stored`);

    // PostgreSQL, asked inside the head container with psql.
    const password = (await exec(head, ['cat', '/data/postgres/password'])).trim();
    const sql = async (query: string): Promise<string[][]> => {
      const out = await sh('docker', [
        'exec', '-e', `PGPASSWORD=${password}`, await container(head), '/usr/lib/postgresql/15/bin/psql',
        '-h', '127.0.0.1', '-p', String(postgresPort), '-U', POSTGRES_ROLE, '-d', MLFLOW_DATABASE, '-v', 'ON_ERROR_STOP=1', '-tAF', '\t', '-c', query,
      ]);
      return out.trim().split('\n').filter((l) => l.length > 0).map((l) => l.split('\t'));
    };
    const [[experimentId] = []] = await sql(`SELECT experiment_id FROM experiments WHERE name = '${name}'`);
    t.truthy(experimentId, `PostgreSQL has the experiment ${name}`);
    const runs = await sql(
      `SELECT r.run_uuid, r.status, r.artifact_uri FROM runs r JOIN tags g ON g.run_uuid = r.run_uuid AND g.key = 'mlflow.parentRunId' WHERE r.experiment_id = ${experimentId}`,
    );
    t.is(runs.length, 1, 'one trial run under the sweep run');
    const [trialRun = '', status, artifactUri = ''] = runs[0] ?? [];
    t.is(status, 'FINISHED');
    const loss = await sql(`SELECT step FROM metrics WHERE run_uuid = '${trialRun}' AND key = 'loss' ORDER BY step`);
    t.deepEqual(loss.map(([s]) => Number(s)), Array.from({ length: STEPS / LOG_EVERY }, (_, i) => (i + 1) * LOG_EVERY), 'each loss step exactly once');
    t.deepEqual(await sql(`SELECT key FROM metrics WHERE run_uuid = '${trialRun}' AND key = 'eval/mig'`), [['eval/mig']], 'evaluated once');

    // The bucket, listed through the S3 API inside the head container with its credentials.
    const prefix = `artifacts/${artifactUri.replace(/^mlflow-artifacts:\/+/, '')}/checkpoints/`;
    const list = [
      'import json, os, sys, boto3',
      'c = json.load(open("/data/s3/credentials.json"))',
      `s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:${s3Port}", region_name="us-east-1", aws_access_key_id=c["accessKey"], aws_secret_access_key=c["secretKey"])`,
      `objs = s3.list_objects_v2(Bucket="${ARTIFACT_BUCKET}", Prefix=sys.argv[1]).get("Contents", [])`,
      'out = {"objects": {o["Key"]: o["Size"] for o in objs}, "manifests": {}}',
      'for k in out["objects"]:',
      '    if k.endswith("/MANIFEST.json"):',
      `        out["manifests"][k] = json.loads(s3.get_object(Bucket="${ARTIFACT_BUCKET}", Key=k)["Body"].read())`,
      'print(json.dumps(out))',
    ].join('\n');
    const bucket = JSON.parse(await exec(head, ['/opt/dcign/mlflow-venv/bin/python', '-c', list, prefix])) as {
      objects: Record<string, number>;
      manifests: Record<string, { step: number; files: { name: string; bytes: number }[] }>;
    };
    const manifests = Object.entries(bucket.manifests);
    t.true(manifests.length >= 1, `checkpoints in s3://${ARTIFACT_BUCKET}/${prefix}: ${Object.keys(bucket.objects).join(', ')}`);
    for (const [k, m] of manifests) for (const f of m.files) t.is(bucket.objects[k.replace(/MANIFEST\.json$/, f.name)], f.bytes, `${f.name} of ${k} whole`);
    t.true(manifests.some(([, m]) => m.step === STEPS), `the final checkpoint (step ${STEPS}) is in the bucket`);
    t.regex(headLog, /temporal-server .*--allow-no-auth start/, 'the production Temporal server, not the dev server');
  } finally {
    await client.connection?.close();
    const logs = await dc(['logs', '--no-color', '--tail', '40']).catch((err: Error) => err.message);
    if (t.passed === false) t.log(logs);
    await dc(['down', '-v', '--remove-orphans', '-t', '20']).catch((err: Error) => t.log(`compose down: ${err.message}`));
    const left = (await sh('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${PROJECT}`]).catch(() => '')).trim();
    t.is(left, '', 'no container of the test project is left');
    if (startedDockerd) await sh('bash', ['scripts/setup-docker.sh', '--stop']).catch((err: Error) => t.log(err.message));
    const forward = await sh('iptables', ['-S', 'FORWARD']).catch(() => '-P FORWARD ACCEPT');
    t.regex(forward, /^-P FORWARD ACCEPT/, 'the FORWARD policy is still ACCEPT');
    rmSync(dir, { recursive: true, force: true });
  }
});
