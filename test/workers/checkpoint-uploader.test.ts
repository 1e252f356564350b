// Rank 0's background checkpoint uploads (workers/checkpoint-uploader.ts) and a worker's local checkpoint cache
// (workers/checkpoint-cache.ts) against a real MLflow server: uploads survive the server being down (retried with
// backoff), retention runs only once the workflow knows the new checkpoint and prunes the local copies too, a
// permanent failure is reported, and a host fetches a durable checkpoint once however many replicas ask.
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { CheckpointRef } from '../../src/contract/index.js';
import { CheckpointStore, MlflowClient } from '../../src/tracking/index.js';
import { CHECKPOINT_FORMAT, saveCheckpoint } from '../../src/train/checkpoint.js';
import { CheckpointCache, NoTrackingServerError } from '../../workers/checkpoint-cache.js';
import { CheckpointUploader } from '../../workers/checkpoint-uploader.js';
import { startMlflowServer, type MlflowServer } from '../helpers/mlflow.js';

const test = anyTest as TestFn<{ server: MlflowServer; client: MlflowClient; tmp: string; experimentId: string }>;

test.before(async (t) => {
  const server = await startMlflowServer();
  // No retries inside the client: each failed request reaches the uploader, whose own backoff is under test.
  const client = new MlflowClient({ trackingUri: server.uri, maxRetries: 0, timeoutMs: 10_000 });
  const experimentId = await client.getOrCreateExperiment('uploader');
  t.context = { server, client, tmp: mkdtempSync(path.join(os.tmpdir(), 'dcign-uploader-test-')), experimentId };
});

test.after.always(async (t) => {
  t.context.client?.close();
  await t.context.server?.dispose();
  if (t.context.tmp) rmSync(t.context.tmp, { recursive: true, force: true });
});

async function checkpointAt(runDir: string, step: number): Promise<string> {
  const params = Float32Array.from({ length: 256 }, (_, i) => i * step);
  return saveCheckpoint(runDir, {
    state: { format: CHECKPOINT_FORMAT, step, adamT: step, sampler: {} as never, params: [{ name: 'w', shape: [256] }], checksum: params.reduce((a, b) => a + b, 0) },
    config: {},
    params,
    adamM: new Float32Array(256),
    adamV: new Float32Array(256),
  });
}

function uploader(
  store: CheckpointStore,
  cacheDir: string,
  o: { keep?: number; protect?: number[]; known?: boolean; warnings?: string[]; durable?: CheckpointRef[]; fatal?: Error[] } = {},
): CheckpointUploader {
  return new CheckpointUploader({
    store,
    keep: o.keep ?? 2,
    ...(o.protect ? { protect: o.protect } : {}),
    cacheDir,
    backoff: { initialMs: 100, maxMs: 500 },
    onDurable: (ref) => {
      o.durable?.push(ref);
      return Promise.resolve(o.known ?? true);
    },
    onFatal: (err) => void o.fatal?.push(err),
    warn: (m) => void o.warnings?.push(m),
  });
}

test.serial('an upload that fails while the server is down is retried with backoff and lands once it is back', async (t) => {
  const { server, client, tmp, experimentId } = t.context;
  const run = await client.createRun({ experimentId, runName: 'outage' });
  const store = new CheckpointStore(client, run.info.runId);
  const runDir = path.join(tmp, 'outage');
  const local = await checkpointAt(runDir, 10);
  const durable: CheckpointRef[] = [];
  let failed!: () => void;
  const firstFailure = new Promise<void>((r) => (failed = r));
  const warnings: string[] = [];
  const up = new CheckpointUploader({
    store,
    keep: 2,
    cacheDir: path.join(runDir, 'checkpoints'),
    backoff: { initialMs: 100, maxMs: 500 },
    onDurable: (ref) => {
      durable.push(ref);
      return Promise.resolve(true);
    },
    onFatal: (err) => t.fail(err.message),
    warn: (m) => {
      warnings.push(m);
      failed();
    },
  });
  await server.stop();
  try {
    up.add({ step: 10, path: local }); // returns at once: the trainer never waits
    await firstFailure;
  } finally {
    await server.start();
  }
  await up.drain();
  t.regex(warnings[0] ?? '', /storing checkpoint step 10 in MLflow failed \(attempt 1\), retrying in \d+ s: cannot reach the MLflow tracking server/);
  t.deepEqual(durable, [{ step: 10, uri: `runs:/${run.info.runId}/checkpoints/step-00000010` }]);
  t.is((await store.latest())?.step, 10);
});

test.serial('retention runs once the workflow knows the new checkpoint: K newest kept in MLflow and on local disk', async (t) => {
  const { client, tmp, experimentId } = t.context;
  const run = await client.createRun({ experimentId, runName: 'retention' });
  const store = new CheckpointStore(client, run.info.runId);
  const runDir = path.join(tmp, 'retention');
  const cacheDir = path.join(runDir, 'checkpoints');

  // The workflow did not get the news (signal failed): nothing may be deleted, it may still resume from an old one.
  const unknown = uploader(store, cacheDir, { keep: 1, known: false });
  for (const step of [10, 20]) {
    unknown.add({ step, path: await checkpointAt(runDir, step) });
    await unknown.drain();
  }
  t.deepEqual((await store.list()).map((c) => c.step), [10, 20]);

  const durable: CheckpointRef[] = [];
  const up = uploader(store, cacheDir, { keep: 2, durable });
  for (const step of [30, 40, 50]) {
    up.add({ step, path: await checkpointAt(runDir, step) });
    await up.drain();
  }
  up.add({ step: 50, path: path.join(cacheDir, 'step-00000050') }); // named again by the replica's result: stored once
  await up.drain();
  t.deepEqual(durable.map((r) => r.step), [30, 40, 50]);
  t.deepEqual((await store.list()).map((c) => c.step), [40, 50]);
  t.deepEqual(readdirSync(cacheDir).sort(), ['LATEST', 'step-00000040', 'step-00000050']);
});

test.serial('protected steps (early stopping\'s rungs) outlive retention in MLflow and on local disk; newer local copies wait their turn', async (t) => {
  const { client, tmp, experimentId } = t.context;
  const run = await client.createRun({ experimentId, runName: 'protect' });
  const store = new CheckpointStore(client, run.info.runId);
  const runDir = path.join(tmp, 'protect');
  const cacheDir = path.join(runDir, 'checkpoints');
  const up = uploader(store, cacheDir, { keep: 1, protect: [10, 30] });
  const written = new Map<number, string>();
  for (const step of [10, 20]) written.set(step, await checkpointAt(runDir, step));
  up.add({ step: 10, path: written.get(10) as string });
  await up.drain();
  t.true(readdirSync(cacheDir).includes('step-00000020'), 'a newer checkpoint not yet stored is not pruned with a protected one current');
  up.add({ step: 20, path: written.get(20) as string });
  await up.drain();
  for (const step of [30, 40]) {
    up.add({ step, path: await checkpointAt(runDir, step) });
    await up.drain();
  }
  t.deepEqual((await store.list()).map((c) => c.step), [10, 30, 40]);
  t.deepEqual(readdirSync(cacheDir).filter((f) => f.startsWith('step-')).sort(), ['step-00000010', 'step-00000030', 'step-00000040']);
});

test.serial('a checkpoint superseded while it waits is skipped: only the newest is uploaded', async (t) => {
  const { server, client, tmp, experimentId } = t.context;
  const run = await client.createRun({ experimentId, runName: 'supersede' });
  const store = new CheckpointStore(client, run.info.runId);
  const runDir = path.join(tmp, 'supersede');
  const durable: CheckpointRef[] = [];
  let failed!: () => void;
  const firstFailure = new Promise<void>((r) => (failed = r));
  const up = new CheckpointUploader({
    store,
    keep: 2,
    cacheDir: path.join(runDir, 'checkpoints'),
    backoff: { initialMs: 100, maxMs: 500 },
    onDurable: (ref) => {
      durable.push(ref);
      return Promise.resolve(true);
    },
    onFatal: (err) => t.fail(err.message),
    warn: () => failed(),
  });
  const c10 = await checkpointAt(runDir, 10);
  const c20 = await checkpointAt(runDir, 20);
  await server.stop();
  try {
    up.add({ step: 10, path: c10 }); // its first attempt fails; it backs off
    up.add({ step: 20, path: c20 }); // and meanwhile a newer one is written
    await firstFailure;
  } finally {
    await server.start();
  }
  await up.drain();
  t.deepEqual(durable.map((r) => r.step), [20]);
  t.deepEqual((await store.list()).map((c) => c.step), [20]);
});

test.serial('a protected checkpoint (a rung\'s) superseded while it waits is still stored, before the newer one', async (t) => {
  const { server, client, tmp, experimentId } = t.context;
  const run = await client.createRun({ experimentId, runName: 'supersede-protected' });
  const store = new CheckpointStore(client, run.info.runId);
  const runDir = path.join(tmp, 'supersede-protected');
  const durable: CheckpointRef[] = [];
  let failed!: () => void;
  const firstFailure = new Promise<void>((r) => (failed = r));
  const up = new CheckpointUploader({
    store,
    keep: 1,
    protect: [10],
    cacheDir: path.join(runDir, 'checkpoints'),
    backoff: { initialMs: 100, maxMs: 500 },
    onDurable: (ref) => {
      durable.push(ref);
      return Promise.resolve(true);
    },
    onFatal: (err) => t.fail(err.message),
    warn: () => failed(),
  });
  const paths = new Map<number, string>();
  for (const step of [10, 20, 30]) paths.set(step, await checkpointAt(runDir, step));
  await server.stop();
  try {
    up.add({ step: 10, path: paths.get(10) as string }); // the rung's checkpoint: its first attempt fails
    up.add({ step: 20, path: paths.get(20) as string }); // newer ones are written meanwhile
    up.add({ step: 30, path: paths.get(30) as string });
    await firstFailure;
  } finally {
    await server.start();
  }
  await up.drain();
  t.deepEqual(durable.map((r) => r.step), [10, 30], 'the rung in turn, then only the newest of the rest');
  t.deepEqual((await store.list()).map((c) => c.step), [10, 30]);
});

test.serial('a failure no retry can fix (an unknown run) is reported through onFatal and by drain', async (t) => {
  const { client, tmp } = t.context;
  const store = new CheckpointStore(client, '0123456789abcdef0123456789abcdef');
  const fatal: Error[] = [];
  const up = uploader(store, path.join(tmp, 'fatal', 'checkpoints'), { fatal });
  up.add({ step: 10, path: await checkpointAt(path.join(tmp, 'fatal'), 10) });
  await t.throwsAsync(up.drain(), { message: /cannot store checkpoint step 10 in MLflow run 0123456789abcdef0123456789abcdef: .*RESOURCE_DOES_NOT_EXIST/ });
  t.is(fatal.length, 1);
});

test.serial('the cache fetches a durable checkpoint once for every replica on the host, and names what it cannot do', async (t) => {
  const { client, tmp, experimentId } = t.context;
  const run = await client.createRun({ experimentId, runName: 'cache' });
  const store = new CheckpointStore(client, run.info.runId);
  const artifactPath = await store.upload(await checkpointAt(path.join(tmp, 'writer'), 600), 600);
  const ref = { step: 600, uri: store.uri(artifactPath) };

  const cache = new CheckpointCache(client);
  const runDir = path.join(tmp, 'host-b', 'sweep', 'trial');
  const [a, b] = await Promise.all([cache.localDir(ref, runDir), cache.localDir(ref, runDir)]);
  t.is(a, path.join(runDir, 'checkpoints', 'step-00000600'));
  t.is(b, a);
  t.deepEqual(readdirSync(path.join(runDir, 'checkpoints')), ['step-00000600'], 'one copy, no leftovers of a second download');
  t.true(existsSync(path.join(a, 'MANIFEST.json')));

  await t.throwsAsync(cache.localDir({ step: 500, uri: ref.uri }, path.join(tmp, 'host-c')), { message: /holds step 600, the trial expected step 500/ });
  await t.throwsAsync(new CheckpointCache(undefined).localDir(ref, runDir), { instanceOf: NoTrackingServerError, message: /this worker runs without MLflow: start it with MLFLOW_TRACKING_URI/ });
  t.is(await new CheckpointCache(undefined).localDir({ step: 5, uri: '/runs/a/ckpt' }, runDir), '/runs/a/ckpt', 'a local checkpoint is used where it is');
});
