// `dcign dev up --profile cluster`, the head of a lab's cluster without containers: PostgreSQL, versitygw (S3) with
// its bucket, MLflow on both, and Temporal's production server on the same PostgreSQL with SQL visibility, on free
// ports in a temp state dir. A short real sweep (the smoke spec made
// small: one trial of 2 replicas, one worker) runs on it; then the stores themselves are asked, not MLflow's API:
// PostgreSQL (psql) holds the runs and each logged loss step exactly once and Temporal's visibility rows, the bucket (S3 ListObjectsV2) holds the
// trial's checkpoints with every file its manifest names. `dev down` leaves no server or port behind, even on failure.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { Client, Connection } from '@temporalio/client';
import test from 'ava';
import { parse, stringify } from 'yaml';

import { runCli } from '../helpers/cli.js';
import { sweepWorkflowId } from '../../src/contract/index.js';
import { pickFreePorts } from '../../src/parallel/rendezvous.js';
import { ARTIFACT_BUCKET, MLFLOW_DATABASE, POSTGRES_ROLE } from '../../src/stack/cluster-head.js';
import { mlflowBinary, postgresBinDir, projectRoot } from '../../src/stack/paths.js';
import { portIsFree } from '../../src/stack/ports.js';
import { localWorkers } from '../../src/stack/workers.js';

const run = promisify(execFile);
// Commands run as a user would: no addresses in the environment, the stack's record in the state dir.
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !['TEMPORAL_ADDRESS', 'TEMPORAL_UI', 'MLFLOW_TRACKING_URI', 'DCIGN_STATE_DIR'].includes(k)),
);

function stateDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'dcign-head-test-'));
  chmodSync(dir, 0o755); // PostgreSQL runs as its own account under root and must reach its data directory in here
  return dir;
}

async function stackFlags(dir: string): Promise<{ flags: string[]; ports: number[]; postgresPort: number }> {
  const ports = (await pickFreePorts(5)) as [number, number, number, number, number];
  const [temporalPort, uiPort, mlflowPort, postgresPort, s3Port] = ports;
  const flags = ['--profile', 'cluster', '--state-dir', dir, '--temporal-port', String(temporalPort), '--temporal-ui-port', String(uiPort)];
  flags.push('--mlflow-port', String(mlflowPort), '--postgres-port', String(postgresPort), '--s3-port', String(s3Port));
  return { flags, ports, postgresPort };
}

/** Processes whose command line names the state dir: what `dev down` must leave none of. */
function processesOf(dir: string): string[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .flatMap((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
        return cmd.includes(dir) ? [`${p}: ${cmd}`] : [];
      } catch {
        return [];
      }
    });
}

test.serial('bad input fails before anything starts: a taken port names its flag, a missing S3 server its set-up script, a closed directory itself', async (t) => {
  const dir = stateDir();
  const blocker = createServer();
  try {
    const { flags, postgresPort } = await stackFlags(dir);
    await new Promise<void>((r) => blocker.listen(postgresPort, '127.0.0.1', r));
    const taken = await runCli(['dev', 'up', ...flags], env);
    t.is(taken.code, 1, taken.stdout);
    t.regex(taken.stderr, new RegExp(`port ${postgresPort} \\(PostgreSQL\\) is already in use.*--postgres-port <port>`));
    blocker.close();

    const missing = await runCli(['dev', 'up', ...flags], { ...env, DCIGN_VERSITYGW_BIN: path.join(dir, 'no-such', 'versitygw') });
    t.is(missing.code, 1, missing.stdout);
    t.regex(missing.stderr, /s3 is not installed at .*no-such\/versitygw\. Fix: run `bash scripts\/setup-s3\.sh`/);
    t.deepEqual(processesOf(dir), [], 'nothing was started');

    if (process.getuid?.() === 0) {
      // Under root PostgreSQL runs as its own account, which cannot enter a directory closed to others: named, with the fix.
      const closed = mkdtempSync(path.join(tmpdir(), 'dcign-closed-'));
      try {
        const closedFlags = flags.map((f) => (f === dir ? path.join(closed, 'head') : f));
        const shut = await runCli(['dev', 'up', ...closedFlags], env);
        t.is(shut.code, 1, shut.stdout);
        t.true(shut.stderr.includes(`${closed} is closed to other users. Fix: chmod o+x ${closed}`), shut.stderr);
        t.deepEqual(processesOf(closed), [], 'nothing was started');
      } finally {
        rmSync(closed, { recursive: true, force: true });
      }
    } else {
      t.log('not root: PostgreSQL runs as this account, so the closed-directory case does not arise');
    }
  } finally {
    blocker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.serial('the cluster head runs a sweep: runs and metrics in PostgreSQL, checkpoints in the bucket; dev down leaves nothing', async (t) => {
  t.timeout(12 * 60_000);
  const dir = stateDir();
  const { flags, ports, postgresPort } = await stackFlags(dir);
  const smoke = parse(readFileSync(path.join(projectRoot, 'sweeps/smoke.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  const specFile = path.join(dir, 'smoke-small.yaml');
  writeFileSync(
    specFile,
    stringify({
      ...smoke,
      train: { ...smoke.train, steps: 10, logEvery: 5, checkpointEvery: 5 },
      search: { grid: { beta: [4] }, seeds: [0] },
      evaluation: { ...smoke.evaluation, numTrain: 100, numTest: 50 },
    }),
  );
  try {
    const t0 = Date.now();
    const up = await runCli(['dev', 'up', ...flags], env);
    t.is(up.code, 0, `${up.stdout}\n${up.stderr}`);
    t.log(`dev up --profile cluster: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (const name of ['postgres', 's3', 'temporal', 'temporal-ui', 'mlflow']) t.regex(up.stdout, new RegExp(`^${name}\\s+healthy`, 'm'));
    t.regex(up.stderr, /temporal-server --root \S+ --config config --env dcign --allow-no-auth start/, 'the production Temporal server, not the dev server');
    t.regex(up.stderr, /mlflow server --backend-store-uri postgresql\+psycopg2:\/\/dcign@127\.0\.0\.1:\d+\/mlflow --artifacts-destination s3:\/\/dcign\/artifacts/);
    const status = JSON.parse((await runCli(['dev', 'status', '--json', '--state-dir', dir], env)).stdout) as { name: string; healthy: boolean }[];
    t.deepEqual(status.map((s) => [s.name, s.healthy]), [['postgres', true], ['s3', true], ['temporal', true], ['temporal-ui', true], ['mlflow', true]]);

    // The demo on the running head (it reuses the servers `dev up` started): one worker, the sweep to completion.
    const demo = await runCli(['demo', ...flags, '--spec', specFile, '--workers', '1', '--slots', '2'], env);
    t.is(demo.code, 0, `${demo.stdout}\n${demo.stderr}`);
    const name = /started sweep '([^']+)'/.exec(demo.stdout)?.[1] ?? '';
    t.regex(demo.stdout, /^beta=4 +0 +completed /m, demo.stdout);

    // PostgreSQL, asked directly.
    const password = readFileSync(path.join(dir, 'postgres', 'password'), 'utf8').trim();
    const sql = async (query: string, db: string = MLFLOW_DATABASE): Promise<string[][]> => {
      const psql = path.join(postgresBinDir(), 'psql');
      const args = ['-h', '127.0.0.1', '-p', String(postgresPort), '-U', POSTGRES_ROLE, '-d', db, '-v', 'ON_ERROR_STOP=1', '-tAF', '\t', '-c', query];
      const { stdout } = await run(psql, args, { env: { ...env, PGPASSWORD: password } });
      return stdout.trim().split('\n').filter((l) => l.length > 0).map((l) => l.split('\t'));
    };
    const [[experimentId] = []] = await sql(`SELECT experiment_id FROM experiments WHERE name = '${name}'`);
    t.truthy(experimentId, `PostgreSQL has the experiment ${name}`);
    const runs = await sql(
      `SELECT r.run_uuid, r.status, r.artifact_uri FROM runs r JOIN tags g ON g.run_uuid = r.run_uuid AND g.key = 'mlflow.parentRunId' WHERE r.experiment_id = ${experimentId}`,
    );
    t.is(runs.length, 1, 'one trial run under the sweep run');
    const [trialId = '', trialStatus, artifactUri = ''] = runs[0] ?? [];
    t.is(trialStatus, 'FINISHED');
    const loss = await sql(`SELECT step FROM metrics WHERE run_uuid = '${trialId}' AND key = 'loss' ORDER BY step`);
    t.deepEqual(loss.map(([s]) => Number(s)), [5, 10], 'each log step exactly once');
    const evals = await sql(`SELECT DISTINCT key FROM metrics WHERE run_uuid = '${trialId}' AND key IN ('eval/mig', 'eval/sap') ORDER BY key`);
    t.deepEqual(evals.map(([k]) => k), ['eval/mig', 'eval/sap']);

    // Temporal: the sweep and its trial, found through a search attribute (SQL visibility), and their rows in PostgreSQL.
    const connection = await Connection.connect({ address: `127.0.0.1:${ports[0]}` });
    try {
      const client = new Client({ connection, namespace: 'default' });
      const ids: string[] = [];
      for await (const w of client.workflow.list({ query: `DcignSweep = '${name}'` })) ids.push(w.workflowId);
      t.true(ids.includes(sweepWorkflowId(name)) && ids.length >= 2, `the sweep and its trial by DcignSweep: ${ids.join(', ')}`);
      t.is((await client.workflow.getHandle(sweepWorkflowId(name)).describe()).status.name, 'COMPLETED');
    } finally {
      await connection.close();
    }
    // The Web UI server answers for the sweep, through its API on the same frontend.
    const ui = await fetch(`http://127.0.0.1:${ports[1]}/api/v1/namespaces/default/workflows/${encodeURIComponent(sweepWorkflowId(name))}`);
    const uiBody = await ui.text();
    t.is(ui.status, 200, `Temporal UI API: ${uiBody.slice(0, 300)}`);
    t.regex(uiBody, /COMPLETED/);
    const visibility = await sql(`SELECT 1 FROM executions_visibility WHERE workflow_id = '${sweepWorkflowId(name)}'`, 'temporal_visibility');
    t.is(visibility.length, 1, "the sweep's visibility row is in PostgreSQL");

    // The bucket, listed through the S3 API with the head's credentials.
    t.regex(artifactUri, /^mlflow-artifacts:\//, 'artifacts go through MLflow, which writes them to the bucket');
    const prefix = `artifacts/${artifactUri.replace(/^mlflow-artifacts:\/+/, '')}/checkpoints/`;
    const s3 = JSON.parse(readFileSync(path.join(dir, 's3', 'credentials.json'), 'utf8')) as { accessKey: string; secretKey: string };
    const list = [
      'import json, os, sys, boto3',
      's3 = boto3.client("s3", endpoint_url=os.environ["S3"], region_name="us-east-1")',
      `objs = s3.list_objects_v2(Bucket="${ARTIFACT_BUCKET}", Prefix=sys.argv[1]).get("Contents", [])`,
      'out = {"objects": {o["Key"]: o["Size"] for o in objs}, "manifests": {}}',
      'for k in out["objects"]:',
      '    if k.endswith("/MANIFEST.json"):',
      `        out["manifests"][k] = json.loads(s3.get_object(Bucket="${ARTIFACT_BUCKET}", Key=k)["Body"].read())`,
      'print(json.dumps(out))',
    ].join('\n');
    const s3Endpoint = `http://127.0.0.1:${ports[4]}`;
    const listed = await run(path.join(path.dirname(mlflowBinary()), 'python'), ['-c', list, prefix], {
      env: { ...env, S3: s3Endpoint, AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey },
    });
    const bucket = JSON.parse(listed.stdout) as { objects: Record<string, number>; manifests: Record<string, { step: number; files: { name: string; bytes: number }[] }> };
    const manifests = Object.entries(bucket.manifests);
    t.true(manifests.length >= 1, `a complete checkpoint in s3://${ARTIFACT_BUCKET}/${prefix}: ${Object.keys(bucket.objects).join(', ')}`);
    for (const [key, manifest] of manifests) {
      t.true(manifest.files.length > 0, key);
      for (const f of manifest.files) t.is(bucket.objects[key.replace(/MANIFEST\.json$/, f.name)], f.bytes, `${f.name} of ${key} is in the bucket, whole`);
    }
    t.true(manifests.some(([, m]) => m.step === 10), 'the final checkpoint (step 10) is there');
  } finally {
    const down = await runCli(['dev', 'down', '--state-dir', dir], env);
    t.is(down.code, 0, down.stderr);
    t.deepEqual(localWorkers(dir), [], 'no worker left running');
    t.deepEqual(processesOf(dir), [], 'no server of this head left running');
    for (const p of ports) t.true(await portIsFree(p), `port ${p} is free after dev down`);
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  }
});
