// CURVE between processes: replica children (replica-child.js with its synthetic all-reduce workload) that take their
// keys through the launcher's interface, CurveKeySources files per rank (config.curve) and the peer list from
// DCIGN_CURVE_PEER_KEYS, reduce correctly; a child holding a key pair the group does not list fails with an error
// that names CURVE and the peer.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import { generateCurveKeyPair } from '../../src/parallel/curve.js';
import type { ExerciseResult } from '../../src/parallel/exercise.js';
import { spawnReplicas, type ReplicaOutcome } from '../../src/train/launch-local.js';

const dir = mkdtempSync(join(tmpdir(), 'dcign-curve-proc-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

type Pair = { publicKey: string; secretKey: string };

/** Writes rank r's secret and public key files; returns its CurveKeySources. */
function keyFiles(name: string, pair: Pair): { secretKeyFile: string; publicKeyFile: string } {
  const secretKeyFile = join(dir, `${name}.secret`);
  const publicKeyFile = join(dir, `${name}.public`);
  writeFileSync(secretKeyFile, `${pair.secretKey}\n`, { mode: 0o600 });
  writeFileSync(publicKeyFile, `${pair.publicKey}\n`);
  return { secretKeyFile, publicKeyFile };
}

const errorOf = (o: ReplicaOutcome | undefined): string => o?.error?.message ?? '';

test.serial('R=3 replica processes with CURVE keys reduce correctly and hold identical bits', async (t) => {
  const pairs: Pair[] = [0, 1, 2].map(() => generateCurveKeyPair());
  const group = await spawnReplicas({
    replicas: 3,
    stderr: 'pipe',
    env: { DCIGN_CURVE_PEER_KEYS: pairs.map((p) => p.publicKey).join(',') },
    config: (rank) => ({ exercise: { sizes: [1001, 70_001], iterations: 2 }, timeoutMs: 30_000, curve: keyFiles(`ok-${rank}`, pairs[rank] as Pair) }),
  });
  const outcomes = await group.wait();
  for (const o of outcomes) t.is(o.code, 0, `rank ${o.rank}: ${errorOf(o)} ${group.processes[o.rank]?.stderr ?? ''}`);
  const results = outcomes.map((o) => (o.done?.kind === 'exercise' ? o.done.exercise : undefined)) as (ExerciseResult | undefined)[];
  for (const r of results) {
    t.not(r, undefined, 'every rank reports its exercise');
    for (const s of r?.results ?? []) t.true(s.maxErr < 1e-5, `rank ${r?.rank}, ${s.elements} elements: max error ${s.maxErr}`);
    t.deepEqual(r?.results.map((s) => s.crc), results[0]?.results.map((s) => s.crc));
  }
});

test.serial('a replica process whose key pair is not in the peer list fails with a CURVE error naming its peer', async (t) => {
  const pairs: Pair[] = [0, 1, 2].map(() => generateCurveKeyPair());
  const impostor = generateCurveKeyPair();
  const group = await spawnReplicas({
    replicas: 3,
    stderr: 'pipe',
    failureGraceMs: 60_000, // let every rank reach its own diagnosis
    env: { DCIGN_CURVE_PEER_KEYS: pairs.map((p) => p.publicKey).join(',') },
    config: (rank) => ({
      exercise: { sizes: [1001], iterations: 2 },
      timeoutMs: 10_000,
      curve: keyFiles(`bad-${rank}`, rank === 1 ? impostor : (pairs[rank] as Pair)),
    }),
  });
  const outcomes = await group.wait();
  for (const o of outcomes) t.log(`rank ${o.rank} (code ${o.code}): ${errorOf(o)}`);
  t.true(outcomes.every((o) => o.code !== 0), 'no rank completes with a wrong key in the group');
  const impostorError = errorOf(outcomes[1]);
  t.regex(impostorError, /CURVE handshake with rank 2 \(tcp:\/\/[^)]+\) failed/);
  t.regex(impostorError, /DCIGN_CURVE_PEER_KEYS/, 'says what to check');
});
