// Real child processes (replica-child.js with its synthetic all-reduce workload): results in separate processes,
// a SIGKILLed replica, a SIGTERMed replica, and a launcher that dies without cleaning up.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import type { ExerciseResult } from '../../src/parallel/exercise.js';
import { spawnReplicas, type ReplicaOutcome } from '../../src/train/launch-local.js';
import type { ReplicaMessage } from '../../src/train/replica-protocol.js';

function exerciseOf(o: ReplicaOutcome): ExerciseResult {
  if (o.done?.kind !== 'exercise') throw new Error(`rank ${o.rank} reported no exercise result`);
  return o.done.exercise;
}

function errorOf(o: ReplicaOutcome | undefined): string {
  return o?.error?.message ?? '';
}

for (const R of [2, 3, 4]) {
  test(`R=${R} processes: all-reduce of awkward sizes matches the closed-form mean, identical on every rank`, async (t) => {
    const sizes = [1, R - 1, R + 1, 1001, 70_001].filter((n) => n > 0);
    const group = await spawnReplicas({
      replicas: R,
      stderr: 'pipe',
      // A receive timeout only matters when something hangs; long, so a starved process on a loaded machine is not it.
      config: () => ({ exercise: { sizes, iterations: 2 }, timeoutMs: 60_000, bucketBytes: 4096 }),
    });
    const outcomes = await group.wait();
    for (const o of outcomes) t.is(o.code, 0, `rank ${o.rank}: ${errorOf(o)} ${group.processes[o.rank]?.stderr ?? ''}`);
    const results = outcomes.map(exerciseOf);
    for (const r of results) {
      for (const s of r.results) t.true(s.maxErr < 1e-5, `rank ${r.rank}, ${s.elements} elements: max error ${s.maxErr}`);
      t.deepEqual(
        r.results.map((s) => s.crc),
        results[0]?.results.map((s) => s.crc),
        `rank ${r.rank} holds different bits than rank 0`,
      );
    }
  });
}

test('SIGKILL of one replica: every other replica exits with an error naming it, from the lost connection', async (t) => {
  // The survivors learn of the death from the lost connection (a grace of a few heartbeats), not from this timeout;
  // it is long so that a survivor starved by a loaded machine is not mistaken for a dead peer.
  const timeoutMs = 30_000;
  let victimSteps = 0;
  let killedAt = 0;
  const group = await spawnReplicas({
    replicas: 3,
    stderr: 'pipe',
    failureGraceMs: 60_000, // let the survivors find out by themselves
    config: () => ({ exercise: { sizes: [5000], iterations: 100_000, pauseMs: 20 }, timeoutMs, logAllRanks: true }),
    onMessage: (rank, msg: ReplicaMessage) => {
      if (rank === 1 && msg.type === 'log' && ++victimSteps === 5) {
        killedAt = Date.now();
        group.processes[1]?.child.kill('SIGKILL');
      }
    },
  });
  const victim = group.endpoints[1] as string;
  const outcomes = await group.wait();
  const elapsed = Date.now() - killedAt;
  t.is(outcomes[1]?.signal, 'SIGKILL', JSON.stringify(outcomes));
  for (const rank of [0, 2]) {
    const o = outcomes[rank];
    t.is(o?.code, 1, `rank ${rank} should fail`);
    t.regex(errorOf(o), new RegExp(`rank 1 \\(${victim.replace(/[.]/g, '\\.')}\\)`), `rank ${rank}: ${errorOf(o)}`);
    t.regex(errorOf(o), /at step \d+/);
    t.log(`rank ${rank}: ${errorOf(o)}`);
  }
  t.log(`all stopped ${elapsed} ms after the kill (receive timeout ${timeoutMs} ms)`);
  for (const rank of [0, 2]) t.regex(errorOf(outcomes[rank]), /lost the connection to rank 1/, 'found out from the connection, not a timeout');
});

test('SIGTERM of one replica: it exits cleanly and the others stop naming it', async (t) => {
  let sent = false;
  const group = await spawnReplicas({
    replicas: 2,
    stderr: 'pipe',
    config: () => ({ exercise: { sizes: [100], iterations: 100_000, pauseMs: 20 }, timeoutMs: 30_000 }),
    onMessage: (rank, msg) => {
      if (rank === 0 && msg.type === 'log' && msg.step >= 3 && !sent) {
        sent = true;
        group.processes[0]?.child.kill('SIGTERM');
      }
    },
  });
  const outcomes = await group.wait();
  t.is(outcomes[0]?.code, 143);
  t.regex(errorOf(outcomes[0]), /stopped by SIGTERM/);
  t.is(outcomes[1]?.code, 1);
  t.regex(errorOf(outcomes[1]), /rank 0 \(tcp:\/\/127\.0\.0\.1:\d+\) stopped: stopped by SIGTERM/);
});

test('replicas do not outlive a launcher that is SIGKILLed', async (t) => {
  const script = fileURLToPath(new URL('./fixtures/launcher.js', import.meta.url));
  const launcher = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pids = await new Promise<number[]>((resolve, reject) => {
    let buf = '';
    launcher.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n').find((l) => l.startsWith('pids '));
      if (line) resolve(line.slice(5).split(',').map(Number));
    });
    launcher.on('exit', () => reject(new Error('launcher exited early')));
  });
  launcher.kill('SIGKILL');
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 15_000;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.deepEqual(pids.filter(alive), []);
});
