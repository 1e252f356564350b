// MlflowClient against a real MLflow server (test/helpers/mlflow.ts): what is logged reads back through the REST API.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MlflowClient, MlflowError } from '../../src/tracking/index.js';
import { freePort, testMlflowServer, type MlflowServer } from '../helpers/mlflow.js';
import { startProxy } from './proxy.js';

let server: MlflowServer;
let client: MlflowClient;
let tmp: string;

test.before(async () => {
  server = await testMlflowServer();
  client = new MlflowClient({ trackingUri: server.uri });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'dcign-client-test-'));
});

test.after.always(async () => {
  client?.close();
  await server?.dispose();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('experiments are created once and found by name', async (t) => {
  const a = await client.getOrCreateExperiment('client-test-exp', { team: 'dcign' });
  const b = await client.getOrCreateExperiment('client-test-exp');
  t.is(a, b);
  const e = await client.getExperimentByName('client-test-exp');
  t.is(e?.tags.team, 'dcign');
  t.is(await client.getExperimentByName('no-such-experiment'), undefined);
});

test('runs: params, tags, metrics, status and nesting read back exactly', async (t) => {
  const exp = await client.getOrCreateExperiment('client-test-runs');
  const parent = await client.createRun({ experimentId: exp, runName: 'sweep parent' });
  const child = await client.createRun({
    experimentId: exp,
    runName: 'beta=4 z=10 seed=1',
    parentRunId: parent.info.runId,
    tags: { 'dcign.sweep': 'unit' },
  });
  const id = child.info.runId;
  await client.logParams(id, { 'model.beta': 4, 'model.latentSize': 10, seed: 1, dataset: 'dsprites' });
  await client.setTags(id, { 'dcign.backend': 'tensorflow', note: 'é ✓ unicode' });
  await client.logBatch(id, {
    metrics: [
      { key: 'loss/total', value: 12.5, step: 0, timestamp: 1_000 },
      { key: 'loss/total', value: 11.25, step: 10, timestamp: 2_000 },
      { key: 'loss/total', value: NaN, step: 20, timestamp: 3_000 },
      { key: 'kl/dim_0', value: -0.125, step: 10, timestamp: 2_000 },
    ],
  });
  await client.endRun(id, 'FINISHED');

  const run = await client.getRun(id);
  t.is(run.info.status, 'FINISHED');
  t.true((run.info.endTime ?? 0) >= run.info.startTime, `end ${run.info.endTime} before start ${run.info.startTime}`);
  t.is(run.info.runName, 'beta=4 z=10 seed=1');
  t.deepEqual(run.data.params, { 'model.beta': '4', 'model.latentSize': '10', seed: '1', dataset: 'dsprites' });
  t.is(run.data.tags['mlflow.parentRunId'], parent.info.runId);
  t.is(run.data.tags.note, 'é ✓ unicode');
  t.is(run.data.tags['dcign.sweep'], 'unit');
  const hist = await client.getMetricHistory(id, 'loss/total');
  t.deepEqual(
    hist.map((m) => [m.step, m.value, m.timestamp]),
    [
      [0, 12.5, 1000],
      [10, 11.25, 2000],
      [20, NaN, 3000],
    ],
  );
  t.deepEqual((await client.getMetricHistory(id, 'kl/dim_0')).map((m) => m.value), [-0.125]);

  const children = await client.searchRuns({
    experimentIds: [exp],
    filter: `tags.mlflow.parentRunId = '${parent.info.runId}'`,
  });
  t.deepEqual(
    children.map((r) => r.info.runId),
    [id],
  );
});

test('more than 1000 metrics, 100 params and 100 tags are split into valid requests', async (t) => {
  const exp = await client.getOrCreateExperiment('client-test-big');
  const { info } = await client.createRun({ experimentId: exp });
  const keys = 5;
  const steps = 700; // 3500 points: four requests
  const metrics = [];
  for (let s = 0; s < steps; s++) for (let k = 0; k < keys; k++) metrics.push({ key: `m${k}`, value: s * 10 + k, step: s, timestamp: 1_000 + s });
  const params = Array.from({ length: 230 }, (_, i) => ({ key: `p${i}`, value: `${i}:` + 'x'.repeat(5000) }));
  const tags = Array.from({ length: 150 }, (_, i) => ({ key: `t${i}`, value: `${i}` }));
  await client.logBatch(info.runId, { metrics, params, tags });
  const run = await client.getRun(info.runId);
  t.is(Object.keys(run.data.params).length, 230);
  t.is(run.data.params.p229, '229:' + 'x'.repeat(5000));
  t.is(Object.keys(run.data.tags).filter((k) => k.startsWith('t')).length, 150);
  for (let k = 0; k < keys; k++) {
    const h = await client.getMetricHistory(info.runId, `m${k}`, { pageSize: 300 }); // pages of 300
    t.is(h.length, steps);
    t.deepEqual(
      h.map((m) => m.step).sort((a, b) => a - b),
      Array.from({ length: steps }, (_, s) => s),
    );
    t.true(h.every((m) => m.value === m.step * 10 + k));
  }
});

test('a too-long param is a clear error and nothing of that call is sent', async (t) => {
  const exp = await client.getOrCreateExperiment('client-test-runs');
  const { info } = await client.createRun({ experimentId: exp });
  const err = await t.throwsAsync(client.logParams(info.runId, { fine: 1, notes: 'n'.repeat(6001) }), {
    instanceOf: MlflowError,
  });
  t.regex(err?.message ?? '', /param 'notes'.*6001.*6000/);
  t.deepEqual((await client.getRun(info.runId)).data.params, {});
  const conflict = await (async () => {
    await client.logParams(info.runId, { seed: 1 });
    return t.throwsAsync(client.logParams(info.runId, { seed: 2 }), { instanceOf: MlflowError });
  })();
  t.is(conflict?.errorCode, 'INVALID_PARAMETER_VALUE');
  t.regex(conflict?.endpoint ?? '', /runs\/log-batch/);
});

test('search pages through every run', async (t) => {
  const exp = await client.getOrCreateExperiment('client-test-search');
  const ids = [];
  for (let i = 0; i < 7; i++) ids.push((await client.createRun({ experimentId: exp, runName: `r${i}` })).info.runId);
  const page = await client.searchRunsPage({ experimentIds: [exp], pageSize: 3 });
  t.is(page.runs.length, 3);
  const second = await client.searchRunsPage({ experimentIds: [exp], pageSize: 3 }, page.nextPageToken);
  t.is(second.runs.length, 3, 'the token leads to the next page');
  t.deepEqual(second.runs.filter((r) => page.runs.some((p) => p.info.runId === r.info.runId)), [], 'the second page repeats none of the first');
  const all = await client.searchRuns({ experimentIds: [exp], pageSize: 3 });
  t.deepEqual(all.map((r) => r.info.runId).sort(), [...ids].sort());
  t.is((await client.searchRuns({ experimentIds: [exp], pageSize: 3, maxResults: 4 })).length, 4);
});

test('artifacts round-trip byte-identical: bytes, a streamed 6 MB file, a directory tree', async (t) => {
  const exp = await client.getOrCreateExperiment('client-test-artifacts');
  const { info } = await client.createRun({ experimentId: exp });
  const big = randomBytes(6 * 1024 * 1024 + 123);
  const bigFile = path.join(tmp, 'weights.bin');
  writeFileSync(bigFile, big);
  const dir = path.join(tmp, 'ckpt');
  mkdirSync(path.join(dir, 'sub'), { recursive: true });
  writeFileSync(path.join(dir, 'config.json'), '{"step": 100}');
  writeFileSync(path.join(dir, 'sub', 'opt state.bin'), randomBytes(1000));

  await client.logArtifactBytes(info.runId, 'metrics.json', '{"mig": 0.5}');
  t.is(await client.logArtifact(info.runId, bigFile, 'checkpoint'), 'checkpoint/weights.bin');
  t.deepEqual(await client.logArtifacts(info.runId, dir), ['ckpt/config.json', 'ckpt/sub/opt state.bin']);

  const root = await client.listArtifacts(info.runId);
  t.deepEqual(
    root.map((f) => [f.path, f.isDir]).sort(),
    [
      ['checkpoint', true],
      ['ckpt', true],
      ['metrics.json', false],
    ],
  );
  const all = await client.listArtifactsRecursive(info.runId);
  t.deepEqual(all.map((f) => f.path).sort(), ['checkpoint/weights.bin', 'ckpt/config.json', 'ckpt/sub/opt state.bin', 'metrics.json']);
  t.is(all.find((f) => f.path === 'checkpoint/weights.bin')?.fileSize, big.length);

  const back = path.join(tmp, 'back', 'weights.bin');
  await client.downloadArtifact(info.runId, 'checkpoint/weights.bin', back);
  t.is(sha(readFileSync(back)), sha(big));
  t.is((await client.readArtifact(info.runId, 'metrics.json')).toString(), '{"mig": 0.5}');
  t.deepEqual(await client.readArtifact(info.runId, 'ckpt/sub/opt state.bin'), readFileSync(path.join(dir, 'sub', 'opt state.bin')));
  const missing = await t.throwsAsync(client.readArtifact(info.runId, 'nope.txt'), { instanceOf: MlflowError });
  t.is(missing?.status, 404);
});

test('a tracking URI with nothing behind it names the URI and the fix', async (t) => {
  const port = await freePort();
  const bad = new MlflowClient({ trackingUri: `http://127.0.0.1:${port}`, maxRetries: 1, backoffMs: 10 });
  const err = await t.throwsAsync(bad.getOrCreateExperiment('x'), { instanceOf: MlflowError });
  t.is(err?.errorCode, 'CONNECTION_FAILED');
  t.true(err?.message.includes(`http://127.0.0.1:${port}`));
  t.regex(err?.message ?? '', /ECONNREFUSED/);
  t.regex(err?.message ?? '', /dcign dev up/);
  t.regex(err?.message ?? '', /MLFLOW_TRACKING_URI/);
  t.throws(() => new MlflowClient({ trackingUri: 'file:///tmp/mlruns' }), { message: /not http\(s\)/ });
  t.throws(() => new MlflowClient({ trackingUri: 'localhost:5000 oops' }), { instanceOf: MlflowError });
  bad.close();
});

test('wrong or missing credentials are a clear UNAUTHENTICATED error (bearer-token gateway)', async (t) => {
  // MLflow's own basic-auth app needs the mlflow[auth] extra; a small real gateway that demands a bearer token
  // before forwarding exercises the same client paths (Authorization header, 401 handling).
  const proxy = await startProxy({ target: server.uri, token: 's3cret' });
  try {
    const good = new MlflowClient({ trackingUri: proxy.uri, token: 's3cret' });
    t.is(await good.getOrCreateExperiment('client-test-auth'), await client.getOrCreateExperiment('client-test-auth'));
    good.close();
    const wrong = new MlflowClient({ trackingUri: proxy.uri, token: 'nope' });
    const err = await t.throwsAsync(wrong.getOrCreateExperiment('client-test-auth'), { instanceOf: MlflowError });
    t.is(err?.status, 401);
    t.is(err?.errorCode, 'UNAUTHENTICATED');
    t.regex(err?.message ?? '', /MLFLOW_TRACKING_TOKEN/);
    wrong.close();
    const none = new MlflowClient({ trackingUri: proxy.uri });
    const err2 = await t.throwsAsync(none.getExperimentByName('x'), { instanceOf: MlflowError });
    t.regex(err2?.message ?? '', /none were sent/);
    none.close();
    // Basic credentials win over a token, as in MLflow's client: the gateway then refuses.
    const both = new MlflowClient({ trackingUri: proxy.uri, token: 's3cret', username: 'u', password: 'p' });
    const err3 = await t.throwsAsync(both.getExperimentByName('x'), { instanceOf: MlflowError });
    t.regex(err3?.message ?? '', /Basic/);
    both.close();
  } finally {
    await proxy.close();
  }
});

test('HTTPS: a self-signed server is refused with advice, accepted with its CA or MLFLOW_TRACKING_INSECURE_TLS', async (t) => {
  const key = path.join(tmp, 'key.pem');
  const cert = path.join(tmp, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });
  const proxy = await startProxy({ target: server.uri, tls: { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') } });
  try {
    const strict = new MlflowClient({ trackingUri: proxy.uri, maxRetries: 0 });
    const err = await t.throwsAsync(strict.getExperimentByName('x'), { instanceOf: MlflowError });
    t.regex(err?.message ?? '', /MLFLOW_TRACKING_SERVER_CERT_PATH/);
    strict.close();
    const withCa = new MlflowClient({ trackingUri: proxy.uri, serverCertPath: cert });
    const direct = await client.getOrCreateExperiment('client-test-tls');
    t.is(await withCa.getOrCreateExperiment('client-test-tls'), direct);
    withCa.close();
    const insecure = new MlflowClient({ trackingUri: proxy.uri, insecureTls: true });
    t.is(await insecure.getOrCreateExperiment('client-test-tls'), direct);
    insecure.close();
  } finally {
    await proxy.close();
  }
});
