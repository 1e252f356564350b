// RunLogger against a real MLflow server: batches arrive, an outage loses and duplicates nothing, a lost response is
// detected by reading history back, a spool left behind is replayed, SIGTERM flushes. Serial: one test stops the server.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MlflowClient, RunLogger, trackTraining, type MetricPoint } from '../../src/tracking/index.js';
import { freePort, startMlflowServer, type MlflowServer } from '../helpers/mlflow.js';
import { startProxy } from './proxy.js';

let server: MlflowServer;
let client: MlflowClient;
let exp: string;
let tmp: string;

test.before(async () => {
  server = await startMlflowServer();
  client = new MlflowClient({ trackingUri: server.uri, maxRetries: 2, backoffMs: 100 });
  exp = await client.getOrCreateExperiment('run-logger-test');
  tmp = mkdtempSync(path.join(os.tmpdir(), 'dcign-runlogger-test-'));
});

test.after.always(async () => {
  client?.close();
  await server?.dispose();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const value = (key: string, step: number): number => step * 0.5 + key.length;

/** Each key's history has exactly the steps `expected`, once each, with the right values. */
async function assertExactlyOnce(t: import('ava').ExecutionContext, runId: string, keys: string[], expected: number[]): Promise<void> {
  for (const key of keys) {
    const h: MetricPoint[] = await client.getMetricHistory(runId, key);
    t.is(h.length, expected.length, `history length of ${key}`);
    t.deepEqual(
      h.map((m) => m.step).sort((a, b) => a - b),
      expected,
      `steps of ${key}`,
    );
    t.true(
      h.every((m) => m.value === value(key, m.step)),
      `values of ${key}`,
    );
  }
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

test.serial('logged metrics, params and tags arrive; repeats of a (key, step) are dropped', async (t) => {
  const { info } = await client.createRun({ experimentId: exp, runName: 'basic' });
  const logger = new RunLogger(client, info.runId, { spoolDir: tmp, flushIntervalMs: 50 });
  logger.logParams({ 'model.beta': 4, seed: 1 });
  logger.setTags({ 'dcign.sweep': 'unit' });
  const keys = ['loss', 'recon', 'kl'];
  for (let s = 0; s < 500; s++) logger.logMetrics(Object.fromEntries(keys.map((k) => [k, value(k, s)])), s);
  logger.logMetric('loss', 999, 3); // a repeat of step 3
  t.throws(() => logger.logParams({ seed: 2 }), { message: /write-once/ });
  t.throws(() => logger.logParams({ long: 'x'.repeat(6001) }), { message: /6001 characters/ });
  const stats = await logger.close();
  t.true(stats.complete);
  t.is(stats.delivered, 1500 + 3);
  t.is(stats.duplicatesDropped, 1);
  t.true(stats.requests >= 2); // 1500 points need at least 2 requests of 1000
  const run = await client.getRun(info.runId);
  t.deepEqual(run.data.params, { 'model.beta': '4', seed: '1' });
  t.is(run.data.tags['dcign.sweep'], 'unit');
  await assertExactlyOnce(t, info.runId, keys, range(500));
  t.false(existsSync(logger.spoolFile));
});

test.serial('server stopped mid-run and restarted: nothing lost, nothing duplicated', async (t) => {
  const { info } = await client.createRun({ experimentId: exp, runName: 'outage' });
  const errors: string[] = [];
  const logger = new RunLogger(client, info.runId, {
    spoolDir: tmp,
    flushIntervalMs: 20,
    eagerBatchSize: 50,
    backoffMs: 50,
    maxBackoffMs: 500,
    onError: (e) => errors.push(e.errorCode),
  });
  const keys = ['loss', 'kl/dim_0'];
  const steps = 400;
  const log = (s: number): void => logger.logMetrics(Object.fromEntries(keys.map((k) => [k, value(k, s)])), s);
  const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
  for (let s = 0; s < 100; s++) {
    log(s);
    await tick();
  }
  // The trainer keeps logging through the outage; logging never waits on the server.
  const stopping = server.stop();
  let s = 100;
  for (; s < 150; s++) {
    log(s);
    await tick();
  }
  await stopping;
  // logMetrics is synchronous, so it cannot wait on the server; what it costs during an outage is a figure for
  // bench/tracking.ts (its 'tracking-log-call-outage' line), not a test assertion.
  for (; s < 250; s++) {
    log(s);
    await new Promise((r) => setTimeout(r, 2));
  }
  await new Promise((r) => setTimeout(r, 300));
  t.true(existsSync(logger.spoolFile), 'the backlog is spooled to disk during the outage');
  t.true(errors.includes('CONNECTION_FAILED'));
  await server.start();
  for (; s < steps; s++) {
    log(s);
    await tick();
  }
  const stats = await logger.close(120_000);
  t.true(stats.complete);
  t.is(stats.delivered, keys.length * steps);
  t.true(stats.spooled > 0);
  await assertExactlyOnce(t, info.runId, keys, range(steps));
  t.false(existsSync(logger.spoolFile), 'the spool is removed once everything is delivered');
});

test.serial('a stalled MLflow (a socket that accepts and never answers): log calls return at once while a request hangs', async (t) => {
  // A real TCP server that takes connections and reads requests but never writes a byte: what a hung MLflow (or one
  // stopped with SIGSTOP behind a live listen backlog) looks like to the client.
  const requests: string[] = [];
  const sockets: net.Socket[] = [];
  const stalled = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('data', (d) => requests.push(d.toString('latin1').split('\r\n')[0] ?? ''));
  });
  await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', r));
  const port = (stalled.address() as net.AddressInfo).port;
  const hung = new MlflowClient({ trackingUri: `http://127.0.0.1:${port}`, maxRetries: 0, timeoutMs: 60_000 });
  const logger = new RunLogger(hung, 'stalled-run', { spoolDir: tmp, flushIntervalMs: 10, eagerBatchSize: 20, flushOnExit: false });
  try {
    const keys = ['loss', 'recon', 'kl'];
    const steps = 300;
    let slowest = 0;
    for (let s = 0; s < steps; s++) {
      const t0 = performance.now();
      logger.logMetrics(Object.fromEntries(keys.map((k) => [k, value(k, s)])), s);
      slowest = Math.max(slowest, performance.now() - t0);
      // yield as a training step would, so the flusher runs and its request goes out and hangs
      await new Promise((r) => setTimeout(r, 1));
    }
    t.true(requests.some((l) => l.startsWith('POST ') && l.includes('runs/log-batch')), `the flusher sent a request that hangs: ${requests.join(' | ')}`);
    const stats = logger.stats();
    t.is(stats.delivered, 0, 'nothing can have been delivered to a server that never answers');
    t.is(stats.enqueued, keys.length * steps);
    // Bound: a log call is a validation, a Set lookup and an array push (microseconds); 20 ms leaves room for a GC
    // pause on this shared 2-core machine and is still far below one request's round trip to a live server, let alone
    // the 60 s the hung request waits. A logger that awaited MLflow would take that long.
    t.true(slowest < 20, `slowest log call while MLflow hangs: ${slowest.toFixed(2)} ms`);
    t.log(`slowest of ${steps} logMetrics calls while a request hangs: ${slowest.toFixed(3)} ms`);
  } finally {
    const closed = await logger.close(200);
    t.false(closed.complete, 'close with a short timeout gives up on the hung server');
    hung.close();
    for (const s of sockets) s.destroy();
    stalled.close();
  }
});

test.serial('a response lost after the server applied the batch: history is read back, no duplicates', async (t) => {
  let batches = 0;
  const proxy = await startProxy({
    target: server.uri,
    loseResponse: (method, url) => method === 'POST' && url.includes('runs/log-batch') && ++batches % 2 === 0,
  });
  const viaProxy = new MlflowClient({ trackingUri: proxy.uri, maxRetries: 0 });
  try {
    const { info } = await client.createRun({ experimentId: exp, runName: 'lost-response' });
    const logger = new RunLogger(viaProxy, info.runId, { spoolDir: tmp, flushIntervalMs: 20, eagerBatchSize: 100, backoffMs: 20 });
    const keys = ['loss', 'recon'];
    for (let s = 0; s < 600; s++) logger.logMetrics(Object.fromEntries(keys.map((k) => [k, value(k, s)])), s);
    const stats = await logger.close(60_000);
    t.true(stats.complete);
    t.true(stats.foundOnServer > 0, 'some points were found already delivered');
    t.true(stats.failedRequests > 0);
    await assertExactlyOnce(t, info.runId, keys, range(600));
  } finally {
    viaProxy.close();
    await proxy.close();
  }
});

test.serial('a spool left by a logger that could not deliver is replayed by the next one', async (t) => {
  const { info } = await client.createRun({ experimentId: exp, runName: 'replay' });
  const nowhere = new MlflowClient({ trackingUri: `http://127.0.0.1:${await freePort()}`, maxRetries: 0 });
  const first = new RunLogger(nowhere, info.runId, { spoolDir: tmp, flushIntervalMs: 10, backoffMs: 10 });
  first.logParams({ seed: 7 });
  for (let s = 0; s < 300; s++) first.logMetric('loss', value('loss', s), s);
  const firstStats = await first.close(500);
  nowhere.close();
  t.false(firstStats.complete);
  t.is(firstStats.pending, 301);
  t.true(existsSync(first.spoolFile));
  t.is(readFileSync(first.spoolFile, 'utf8').trim().split('\n').length, 301);

  const second = new RunLogger(client, info.runId, { spoolDir: tmp, flushIntervalMs: 10 });
  second.logMetric('loss', value('loss', 300), 300);
  second.logMetric('loss', 123, 5); // already in the replayed spool: dropped
  const stats = await second.close(60_000);
  t.true(stats.complete);
  t.is(stats.duplicatesDropped, 1);
  await assertExactlyOnce(t, info.runId, ['loss'], range(301));
  t.is((await client.getRun(info.runId)).data.params.seed, '7');
  t.false(existsSync(second.spoolFile));
});

test.serial('SIGTERM: a training process that is told to stop flushes what it queued', async (t) => {
  const { info } = await client.createRun({ experimentId: exp, runName: 'sigterm' });
  const here = path.dirname(fileURLToPath(import.meta.url));
  const indexJs = path.resolve(here, '../../src/tracking/index.js');
  const script = path.join(tmp, 'child.mjs');
  writeFileSync(
    script,
    `import { MlflowClient, RunLogger } from ${JSON.stringify(indexJs)};
const client = new MlflowClient({ trackingUri: process.argv[2] });
// Nothing is sent until the signal: a long interval and a huge eager threshold.
const logger = new RunLogger(client, process.argv[3], { spoolDir: process.argv[4], flushIntervalMs: 600000, eagerBatchSize: 1e9 });
logger.installSignalHandlers(30000);
for (let s = 0; s < 1500; s++) logger.logMetric('loss', s * 0.5 + 4, s);
console.log('queued');
setInterval(() => {}, 1000); // a trainer that would run forever
`,
  );
  const child = spawn(process.execPath, [script, server.uri, info.runId, tmp], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('queued') && resolve()));
  t.is((await client.getMetricHistory(info.runId, 'loss')).length, 0);
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
  child.kill('SIGTERM');
  t.is(await exited, 'SIGTERM', 'the process still ends by the signal');
  await assertExactlyOnce(t, info.runId, ['loss'], range(1500));
});

test.serial('trackTraining: trainer hooks become metrics, the run ends with artifacts and a loss plot', async (t) => {
  const ckpt = path.join(tmp, 'ckpt-100');
  mkdirSync(ckpt, { recursive: true });
  writeFileSync(path.join(ckpt, 'state.json'), '{"step":100}');
  const tracker = await trackTraining(
    { dataset: 'dsprites-small', seed: 2, steps: 100, runDir: '/tmp/run', model: { variant: 'beta-vae', beta: 4, latentSize: 10 } },
    { client, experimentName: 'run-logger-test-train', backend: 'tensorflow', device: 'cpu', signals: false, logger: { spoolDir: tmp } },
  );
  for (let s = 0; s <= 100; s += 10) tracker.onLog(s, { 'loss/total': 100 - s / 2, 'loss/kl': 1 + s / 100, img_per_s: 600 });
  tracker.onCheckpoint(100, ckpt);
  const stats = await tracker.finish('FINISHED', { metrics: { mig: 0.3 } });
  t.true(stats.complete);
  const run = await client.getRun(tracker.runId);
  t.is(run.info.status, 'FINISHED');
  t.is(run.info.runName, 'beta-vae standard beta=4 z=10 seed=2');
  t.is(run.data.params['model.beta'], '4');
  t.is(run.data.tags['dcign.checkpoint'], ckpt);
  t.is((await client.getMetricHistory(tracker.runId, 'loss/total')).length, 11);
  t.is(run.data.metrics['final/mig']?.value, 0.3);
  const files = (await client.listArtifactsRecursive(tracker.runId)).map((f) => f.path).sort();
  t.deepEqual(files, ['checkpoint/state.json', 'metrics.json', 'plots/loss_curves.png']);
});
