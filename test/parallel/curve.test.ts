// CURVE: an encrypted group reduces correctly; a stranger's frames never arrive; a rank with the wrong key pair
// cannot join; keys load from files and from the environment.
import { chmodSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';
import * as zmq from 'zeromq';

import {
  curvePublicKeyOf,
  formatClusterKey,
  loadCurveKeys,
  readClusterKeyFile,
  writeClusterKeyFile,
  z85Encode,
  type CurveKeys,
} from '../../src/parallel/curve.js';
import { RingError } from '../../src/parallel/ring-error.js';
import { encodeHeader, hashGroupId, Kind, payloadChecksum } from '../../src/parallel/wire.js';
import { closeAll, maxAbsDiff, randomBuffers, referenceMean, ringGroup } from './helpers.js';

function groupKeys(R: number): { pairs: { publicKey: string; secretKey: string }[]; keys: (rank: number) => CurveKeys } {
  const pairs = Array.from({ length: R }, () => zmq.curveKeyPair());
  const peerPublicKeys = pairs.map((p) => p.publicKey);
  return { pairs, keys: (rank) => ({ ...(pairs[rank] as { publicKey: string; secretKey: string }), peerPublicKeys }) };
}

test('z85Encode matches the ZeroMQ RFC 32 test vector', (t) => {
  t.is(z85Encode(Uint8Array.of(0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b)), 'HelloWorld');
});

test('an encrypted R=3 group reduces correctly and a stranger cannot inject frames', async (t) => {
  const { keys } = groupKeys(3);
  const group = await ringGroup(3, { groupId: 'curve-group' }, (rank) => ({ curve: keys(rank) }));
  // a stranger with its own key pair, knowing rank 0's public key and the wire format
  const stranger = zmq.curveKeyPair();
  const intruder = new zmq.Push({ linger: 0, curveServerKey: keys(0).publicKey, curvePublicKey: stranger.publicKey, curveSecretKey: stranger.secretKey });
  const authFailed = new Promise<void>((resolve) => intruder.events.on('handshake:error:auth', () => resolve()));
  intruder.connect(group[0]?.peers[0] as string);
  try {
    const payload = Buffer.from(new Float32Array(100).fill(1e6).buffer);
    const h = encodeHeader({ kind: Kind.ReduceScatter, groupHash: hashGroupId('curve-group'), generation: 0, sender: 2, step: 1, op: 1, bucket: 0, ringStep: 0, chunk: 2, length: payload.length, checksum: payloadChecksum(payload) });
    void intruder.send([h, payload]).catch(() => undefined);
    await authFailed;
    const bufs = randomBuffers(3, 1000, 5);
    const ref = referenceMean(bufs);
    await Promise.all(group.map((r, i) => r.allReduceMean(bufs[i] as Float32Array, 1)));
    t.true(maxAbsDiff(bufs[1] as Float32Array, ref) < 1e-6);
  } finally {
    intruder.close();
    await closeAll(group);
  }
});

test('a rank whose key pair is not the group\'s cannot join', async (t) => {
  const { keys } = groupKeys(2);
  const impostor = zmq.curveKeyPair();
  const results = await Promise.allSettled([
    ringGroup(2, { timeoutMs: 1500 }, (rank) => ({ curve: rank === 1 ? { ...keys(1), ...impostor } : keys(rank) })),
  ]);
  const res = results[0];
  t.is(res?.status, 'rejected');
  const err = (res as PromiseRejectedResult).reason as RingError;
  t.true(err instanceof RingError);
  t.log(err.message);
  t.regex(err.message, /CURVE handshake with rank [01] .* failed|heard nothing from rank/);
});

test('keys load from files and from the environment; partial configuration is an error', (t) => {
  const { pairs } = groupKeys(2);
  const [p0, p1] = pairs as [{ publicKey: string; secretKey: string }, { publicKey: string; secretKey: string }];
  const dir = mkdtempSync(join(tmpdir(), 'dcign-curve-'));
  writeFileSync(join(dir, 'secret'), `${p0.secretKey}\n`);
  writeFileSync(join(dir, 'public'), p0.publicKey);
  writeFileSync(join(dir, 'peers'), `# rank order\n${p0.publicKey}\n${p1.publicKey}\n`);
  const fromFiles = loadCurveKeys({ secretKeyFile: join(dir, 'secret'), publicKeyFile: join(dir, 'public'), peerKeysFile: join(dir, 'peers') }, {});
  t.deepEqual(fromFiles, { ...p0, peerPublicKeys: [p0.publicKey, p1.publicKey] });
  const fromEnv = loadCurveKeys({}, {
    DCIGN_CURVE_SECRET_KEY: p0.secretKey,
    DCIGN_CURVE_PUBLIC_KEY: p0.publicKey,
    DCIGN_CURVE_PEER_KEYS: `${p0.publicKey},${p1.publicKey}`,
  });
  t.deepEqual(fromEnv, fromFiles);
  t.is(loadCurveKeys({}, {}), undefined);
  t.throws(() => loadCurveKeys({}, { DCIGN_CURVE_SECRET_KEY: p0.secretKey }), { message: /incomplete CURVE configuration/ });
  t.throws(() => loadCurveKeys({}, { DCIGN_CURVE_SECRET_KEY: 'short', DCIGN_CURVE_PUBLIC_KEY: p0.publicKey, DCIGN_CURVE_PEER_KEYS: p0.publicKey }), {
    message: /not a 40-character Z85/,
  });
});

test('a cluster key file: written 0600, read back with the pair checked, refused when others can read it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dcign-clusterkey-'));
  const file = join(dir, 'cluster.key');
  const { publicKey } = writeClusterKeyFile(file);
  t.is(statSync(file).mode & 0o777, 0o600);
  t.throws(() => writeClusterKeyFile(file), { message: /exists: every host .* --force/ });
  const keys = loadCurveKeys({}, { DCIGN_CLUSTER_KEY_FILE: file });
  t.is(keys?.publicKey, publicKey);
  t.true(keys?.cluster);
  t.is(curvePublicKeyOf(keys?.secretKey ?? ''), publicKey);
  t.throws(() => loadCurveKeys({ clusterKeyFile: file }, { DCIGN_CURVE_SECRET_KEY: keys?.secretKey }), { message: /both a cluster key .* use one of them/ });
  chmodSync(file, 0o644);
  t.throws(() => readClusterKeyFile(file), { message: /readable by other users .*chmod 600/ });
  const other = zmq.curveKeyPair();
  const mixed = join(dir, 'mixed.key');
  writeFileSync(mixed, formatClusterKey({ publicKey: other.publicKey, secretKey: zmq.curveKeyPair().secretKey }), { mode: 0o600 });
  t.throws(() => readClusterKeyFile(mixed), { message: /public key does not belong to the secret key/ });
});

test('an R=3 group keyed by one cluster key reduces correctly; a member of another cluster cannot join', async (t) => {
  const pair = zmq.curveKeyPair();
  const cluster: CurveKeys = { ...pair, peerPublicKeys: [pair.publicKey], cluster: true };
  const group = await ringGroup(3, { groupId: 'cluster-group' }, () => ({ curve: cluster }));
  try {
    const bufs = randomBuffers(3, 1000, 7);
    const ref = referenceMean(bufs);
    await Promise.all(group.map((r, i) => r.allReduceMean(bufs[i] as Float32Array, 1)));
    t.true(maxAbsDiff(bufs[2] as Float32Array, ref) < 1e-6);
  } finally {
    await closeAll(group);
  }
  const foreign = zmq.curveKeyPair();
  const res = await Promise.allSettled([
    ringGroup(2, { timeoutMs: 1500 }, (rank) => ({ curve: rank === 1 ? { ...foreign, peerPublicKeys: [foreign.publicKey], cluster: true } : cluster })),
  ]);
  t.is(res[0]?.status, 'rejected');
  t.regex(((res[0] as PromiseRejectedResult).reason as Error).message, /same cluster key file|heard nothing from rank/);
});
