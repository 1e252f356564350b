// Durable checkpoints in a real MLflow server (test/helpers/mlflow.ts, --serve-artifacts): a checkpoint uploaded and
// fetched back is the same bytes; one whose manifest never arrived is never chosen; a damaged copy is named; retention
// keeps the newest K.
import test from 'ava';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { CheckpointStore, DurableCheckpointError, MlflowClient } from '../../src/tracking/index.js';
import { CHECKPOINT_FORMAT, checksumOf, loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { startMlflowServer, type MlflowServer } from '../helpers/mlflow.js';

let server: MlflowServer;
let client: MlflowClient;
let tmp: string;
let experimentId: string;

test.before(async () => {
  server = await startMlflowServer();
  client = new MlflowClient({ trackingUri: server.uri });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'dcign-ckstore-test-'));
  experimentId = await client.getOrCreateExperiment('checkpoint-store');
});

test.after.always(async () => {
  client?.close();
  await server?.dispose();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function newStore(name: string): Promise<CheckpointStore> {
  const run = await client.createRun({ experimentId, runName: name });
  return new CheckpointStore(client, run.info.runId);
}

/** A real checkpoint (src/train/checkpoint.ts) whose values include ones a lossy copy would change: -0, subnormals, NaN payloads. */
async function writeCheckpoint(runDir: string, step: number): Promise<string> {
  const n = 70_000; // ~280 KB per file: more than one network chunk
  const params = new Float32Array(n);
  const adamM = new Float32Array(n);
  const adamV = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    params[i] = Math.sin(i * 0.37 + step) * 3;
    adamM[i] = i % 7 === 0 ? -0 : 1e-42 * (i % 5);
    adamV[i] = Math.cos(i) ** 2;
  }
  const bits = new Uint32Array(adamV.buffer);
  bits[3] = 0x7fc01234; // a NaN with a payload
  return saveCheckpoint(runDir, {
    state: { format: CHECKPOINT_FORMAT, step, adamT: step, sampler: { kind: 'iid', cursor: step } as never, params: [{ name: 'w', shape: [n] }], checksum: checksumOf(params) },
    config: { note: 'test', step },
    params,
    adamM,
    adamV,
  });
}

function filesOf(dir: string): Record<string, Buffer> {
  return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(path.join(dir, f))]));
}

test('a checkpoint uploaded and fetched back is bit-exact; a verified local copy is not fetched again', async (t) => {
  const store = await newStore('roundtrip');
  const src = await writeCheckpoint(path.join(tmp, 'writer'), 600);
  const artifactPath = await store.upload(src, 600);
  t.is(artifactPath, 'checkpoints/step-00000600');
  t.is(store.uri(artifactPath), `runs:/${store.runId}/checkpoints/step-00000600`);

  const dest = path.join(tmp, 'other-host', 'checkpoints', 'step-00000600');
  t.deepEqual(await store.download(artifactPath, dest), { step: 600, fetched: true });
  const sent = filesOf(src);
  const got = filesOf(dest);
  t.deepEqual(Object.keys(got).sort(), [...Object.keys(sent), 'MANIFEST.json'].sort());
  for (const [name, bytes] of Object.entries(sent)) t.true(bytes.equals(got[name] as Buffer), `${name} differs after the round trip`);
  const loaded = await loadCheckpoint(dest);
  t.is(loaded.state.step, 600);
  t.true(Buffer.from(loaded.adamV.buffer).equals(sent['adam-v.bin'] as Buffer));

  t.deepEqual(await store.download(artifactPath, dest), { step: 600, fetched: false }, 'a verified copy is a cache hit');
  const damaged = Buffer.from(got['params.bin'] as Buffer);
  damaged[100] = (damaged[100] as number) ^ 1;
  writeFileSync(path.join(dest, 'params.bin'), damaged);
  t.deepEqual(await store.download(artifactPath, dest), { step: 600, fetched: true }, 'a damaged local copy is fetched again');
  t.true(readFileSync(path.join(dest, 'params.bin')).equals(sent['params.bin'] as Buffer));
});

test('a checkpoint without its manifest (upload cut short) is never chosen, and cannot be fetched', async (t) => {
  const store = await newStore('half-uploaded');
  await store.upload(await writeCheckpoint(path.join(tmp, 'half'), 10), 10);
  // step 20: every file uploaded, the manifest never (the writer died first)
  const src20 = await writeCheckpoint(path.join(tmp, 'half'), 20);
  for (const f of readdirSync(src20)) await client.logArtifact(store.runId, path.join(src20, f), 'checkpoints/step-00000020');

  t.deepEqual(await store.list(), [
    { step: 10, artifactPath: 'checkpoints/step-00000010', complete: true },
    { step: 20, artifactPath: 'checkpoints/step-00000020', complete: false },
  ]);
  t.is((await store.latest())?.step, 10);
  const dest = path.join(tmp, 'half-dest', 'step-00000020');
  await t.throwsAsync(store.download('checkpoints/step-00000020', dest), { instanceOf: DurableCheckpointError, message: /step-00000020: has no MANIFEST\.json/ });
  t.throws(() => readdirSync(dest), undefined, 'nothing is left where the copy would go');
});

test('a stored file that does not match its manifest is named, and no local copy is made', async (t) => {
  const store = await newStore('damaged');
  const src = await writeCheckpoint(path.join(tmp, 'damaged'), 30);
  const artifactPath = await store.upload(src, 30);
  await client.logArtifactBytes(store.runId, `${artifactPath}/adam-m.bin`, Buffer.alloc(16));
  const dest = path.join(tmp, 'damaged-dest', 'step-00000030');
  await t.throwsAsync(store.download(artifactPath, dest), { instanceOf: DurableCheckpointError, message: /adam-m\.bin arrived with 16 bytes .* the stored copy is damaged/ });
  t.deepEqual(readdirSync(path.dirname(dest)), [], 'no partial download is left behind');
});

test('retention keeps the newest K complete checkpoints and deletes the rest, unfinished and later ones included', async (t) => {
  const store = await newStore('retention');
  const dir = path.join(tmp, 'retention');
  for (const step of [10, 20, 30, 40, 50, 60]) await store.upload(await writeCheckpoint(dir, step), step);
  const unfinished = await writeCheckpoint(dir, 45);
  await client.logArtifact(store.runId, path.join(unfinished, 'params.bin'), 'checkpoints/step-00000045');

  // 60 was stored by a group that died; the trial resumed from 40 and has just stored 50.
  t.deepEqual(await store.retain(2, 50), { kept: [40, 50], removed: [10, 20, 30, 45, 60] });
  t.deepEqual(
    (await store.list()).map((c) => [c.step, c.complete]),
    [
      [40, true],
      [50, true],
    ],
  );
  t.deepEqual((await client.listArtifacts(store.runId, 'checkpoints')).map((a) => a.path).sort(), ['checkpoints/step-00000040', 'checkpoints/step-00000050']);
  // Deleting what is not there is no error (a retried delete after a lost response).
  await t.notThrowsAsync(client.deleteArtifact(store.runId, 'checkpoints/step-00000010'));
  await t.throwsAsync(client.deleteArtifact(store.runId, ''), { message: /refusing to delete the run's whole artifact root/ });
});

test('retention keeps protected steps (early stopping\'s rungs) besides the newest K', async (t) => {
  const store = await newStore('retention-protect');
  const dir = path.join(tmp, 'retention-protect');
  for (const step of [10, 20, 30, 40, 50]) await store.upload(await writeCheckpoint(dir, step), step);
  t.deepEqual(await store.retain(2, 50, [10, 35]), { kept: [10, 40, 50], removed: [20, 30] });
  t.deepEqual((await store.list()).map((c) => c.step), [10, 40, 50]);
});

test('uploading a step again replaces the stored copy whole', async (t) => {
  const store = await newStore('reupload');
  const a = await writeCheckpoint(path.join(tmp, 'reupload-a'), 70);
  await store.upload(a, 70);
  // Another timeline writes step 70 with other values and one file fewer.
  const b = await writeCheckpoint(path.join(tmp, 'reupload-b'), 71);
  rmSync(path.join(b, 'config.json'));
  await store.upload(b, 70);
  const dest = path.join(tmp, 'reupload-dest', 'step-00000070');
  await store.download('checkpoints/step-00000070', dest);
  t.deepEqual(readdirSync(dest).sort(), ['MANIFEST.json', 'adam-m.bin', 'adam-v.bin', 'params.bin', 'state.json']);
  t.true(readFileSync(path.join(dest, 'params.bin')).equals(readFileSync(path.join(b, 'params.bin'))));
});
