// The supervisor's pause, on the real trainer (src/train/replica-child.ts: TensorFlow.js + ZeroMQ ring, 2 processes):
// rank 0 finishes the step it is on, writes a checkpoint at that step and reports 'done' with status 'aborted' (what
// a worker turns into a paused trial); its peer is then stopped by its supervisor, as the trial workflow does.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import test from 'ava';

import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { spawnReplicas, type ReplicaGroup } from '../../src/train/launch-local.js';
import { encodeMessage, type ReplicaMessage } from '../../src/train/replica-protocol.js';

test('a paused rank 0 stops at a step boundary with a checkpoint at that step and exits cleanly', async (t) => {
  const runDir = path.join(await mkdtemp(path.join(tmpdir(), 'dcign-pause-')), 'run');
  const rank0: ReplicaMessage[] = [];
  let sendPause: (() => void) | undefined; // set once the group exists
  const group: ReplicaGroup = await spawnReplicas({
    replicas: 2,
    stderr: 'pipe',
    config: () => ({
      train: { dataset: 'dsprites-small', model: { imageSize: 32, latentSize: 3, beta: 1 }, steps: 100_000, batchSize: 4, learningRate: 1e-3, logEvery: 1, checkpointEvery: 0, evalBatches: 0, runDir },
      // long, so a process starved by a loaded machine is not taken for a lost peer
      timeoutMs: 60_000,
    }),
    onMessage: (rank, msg) => {
      if (rank !== 0) return;
      rank0.push(msg);
      if (msg.type === 'log' && msg.step >= 3 && sendPause) {
        sendPause();
        sendPause = undefined;
      }
    },
  });
  sendPause = () => void group.processes[0]?.child.stdin?.write(encodeMessage({ type: 'pause' }));
  // a hang guard only: without the pause, rank 0 would train for 100,000 steps
  const stopped = await Promise.race([group.processes[0]?.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 120_000))]);
  if (!stopped) group.stop();
  t.true(stopped, 'rank 0 did not stop within 120 s of the pause');
  group.stop(); // the peer waits on rank 0 in the ring: its supervisor stops it
  const [first] = await group.wait();
  t.is(first?.code, 0, `rank 0: ${first?.error?.message ?? ''} ${group.processes[0]?.stderr.slice(-2000) ?? ''}`);
  if (first?.done?.kind !== 'train') return t.fail(`rank 0 reported ${JSON.stringify(first?.done)}`);
  const result = first.done.train;
  t.is(result.status, 'aborted');
  t.true(result.step >= 3 && result.step < 100_000, `stopped at ${result.step}`);
  // nothing trained past the checkpoint: the last logged step is the checkpoint's, and it holds that step
  const logged = rank0.filter((m): m is Extract<ReplicaMessage, { type: 'log' }> => m.type === 'log').map((m) => m.step);
  t.is(Math.max(...logged), result.step);
  const checkpoints = rank0.filter((m): m is Extract<ReplicaMessage, { type: 'checkpoint' }> => m.type === 'checkpoint');
  t.deepEqual(checkpoints.map((m) => m.step), [result.step]);
  t.is((await loadCheckpoint(result.lastCheckpoint ?? '(none)')).state.step, result.step);
});
