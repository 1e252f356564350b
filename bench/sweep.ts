// Orchestration cost of a sweep on the real Temporal dev server:
//  - overhead per trial: a sweep of trivial 1-step trials (2 replicas each, replicas are tiny real processes that
//    speak the replica protocol, no TensorFlow), run 2 at a time: each trial workflow's own time from start to close,
//    as Temporal recorded it (what one trial pays), and beside it the sweep's wall time per trial (a throughput figure:
//    2 concurrent trials share that wall time, so it is about half the per-trial cost and is labelled as such);
//  - time from `sweep start` to the first training step of a real smoke trial (TensorFlow replica children);
//  - the training time of that smoke trial (sweeps/smoke.yaml, one point, 2 replicas), the yardstick.
// Ends with one JSON line; ratio = per-trial overhead / smoke trial time (lower is better: the share of a smoke trial's time
// that orchestration would add).
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';

import { startSweep } from '../src/sweep/control.js';
import { loadSweepSpec, validateSweepSpec } from '../src/sweep/spec.js';
import { sweepWorkflowId, trialProgressQuery, trialWorkflowId } from '../src/contract/index.js';
import { REPLICA_CHILD_PATH } from '../workers/worker.js';
import { startTemporal } from '../test/helpers/temporal.js';
import { bundle, smallSpec, startWorker, tempDir } from '../test/helpers/sweep-fixture.js';

async function main(): Promise<void> {
  const trivialTrials = Number(process.env.BENCH_TRIALS ?? 8);
  const [server, code, runRoot] = await Promise.all([startTemporal(), bundle(), tempDir('bench-sweep')]);
  const fake = await startWorker({ taskQueue: 'bench-trivial', address: server.address, slots: 4, runRoot, code });
  const real = await startWorker({ taskQueue: 'bench-real', address: server.address, slots: 2, runRoot, code, replicaCommand: [process.execPath, REPLICA_CHILD_PATH] });
  try {
    // warm-up: the first workflow tasks pay for loading the bundle into the worker's isolate
    await (await startSweep(server.client, smallSpec('warmup', 'bench-trivial', { train: { steps: 1, fakeStepMs: 0 }, search: { grid: { beta: [1] }, seeds: [0] }, evaluation: { enabled: false } }))).result();

    const betas = Array.from({ length: trivialTrials }, (_, i) => i + 1);
    const concurrency = 2;
    const trivial = smallSpec('trivial', 'bench-trivial', {
      maxConcurrentTrials: concurrency,
      train: { steps: 1, logEvery: 1, checkpointEvery: 1, fakeStepMs: 0 },
      search: { grid: { beta: betas }, seeds: [0] },
      evaluation: { enabled: false },
    });
    let t0 = performance.now();
    const r = await (await startSweep(server.client, trivial)).result();
    const trivialWall = (performance.now() - t0) / 1000;
    if (r.trials.some((x) => x.state !== 'completed')) throw new Error(`trivial sweep: ${JSON.stringify(r.trials.map((x) => [x.key, x.state, x.error]))}`);
    // Each trial workflow's start-to-close from Temporal's record: dividing the wall time by the trial count instead
    // would credit the concurrency to the orchestration.
    const perTrial: number[] = [];
    for (const x of r.trials) {
      const d = await server.client.workflow.getHandle(trialWorkflowId('trivial', x.key)).describe();
      if (!d.closeTime) throw new Error(`trial ${x.key} has no close time in Temporal`);
      perTrial.push((d.closeTime.getTime() - d.startTime.getTime()) / 1000);
    }
    const overhead = perTrial.reduce((a, b) => a + b, 0) / perTrial.length;
    const wallPerTrial = trivialWall / trivialTrials;
    console.log(
      `trivial sweep: ${trivialTrials} one-step trials x 2 replicas, ${concurrency} at a time: ${trivialWall.toFixed(2)} s wall; ` +
        `each trial from start to close ${overhead.toFixed(3)} s (mean, max ${Math.max(...perTrial).toFixed(3)} s); ` +
        `wall per trial ${wallPerTrial.toFixed(3)} s (throughput: ${concurrency} trials share it)`,
    );

    // At scale (BENCH_SCALE_TRIALS, e.g. 2000): trials per minute, and the largest history of the sweep's chain of
    // runs (continue-as-new keeps each one small).
    const scaleTrials = Number(process.env.BENCH_SCALE_TRIALS ?? 0);
    let scale: { trials: number; perMinute: number; largestHistory: number; runs: number } | undefined;
    if (scaleTrials > 0) {
      const spec = smallSpec('scale', 'bench-trivial', {
        maxConcurrentTrials: 2,
        train: { steps: 2, logEvery: 1, checkpointEvery: 1, fakeStepMs: 0 },
        search: { grid: { beta: Array.from({ length: scaleTrials }, (_, i) => i + 1) }, seeds: [0] },
        evaluation: { enabled: false },
      });
      t0 = performance.now();
      const rs = await (await startSweep(server.client, spec)).result();
      const wall = (performance.now() - t0) / 1000;
      const notDone = rs.trials.filter((x) => x.state !== 'completed');
      if (notDone.length > 0) throw new Error(`scale sweep: ${notDone.length} trials did not complete, e.g. ${JSON.stringify(notDone[0])}`);
      let largestHistory = 0;
      let runs = 0;
      for await (const w of server.client.workflow.list({ query: `WorkflowId = '${sweepWorkflowId('scale')}'` })) {
        runs += 1;
        largestHistory = Math.max(largestHistory, w.historyLength);
      }
      scale = { trials: scaleTrials, perMinute: (scaleTrials / wall) * 60, largestHistory, runs };
      console.log(`scale sweep: ${scaleTrials} two-step trials, 2 at a time: ${wall.toFixed(1)} s, ${scale.perMinute.toFixed(1)} trials/min; ${runs} sweep runs (continue-as-new), largest history ${largestHistory} events`);
    }

    if (!existsSync(REPLICA_CHILD_PATH)) throw new Error(`no replica child at ${REPLICA_CHILD_PATH}: build first`);
    const smoke = loadSweepSpec('sweeps/smoke.yaml');
    const one = validateSweepSpec({
      ...smoke,
      name: 'smoke-one',
      taskQueue: 'bench-real',
      train: { ...smoke.train, logEvery: 1 },
      search: { grid: { beta: [4] }, seeds: [0] },
      evaluation: { ...smoke.evaluation, enabled: false },
    });
    const key = 'beta=4,seed=0';
    t0 = performance.now();
    const handle = await startSweep(server.client, one);
    const trial = server.client.workflow.getHandle(trialWorkflowId('smoke-one', key));
    let firstStep = NaN;
    for (;;) {
      try {
        if ((await trial.query(trialProgressQuery)).step > 0) {
          firstStep = (performance.now() - t0) / 1000;
          break;
        }
      } catch {
        // not started yet
      }
      await new Promise((res) => setTimeout(res, 50));
    }
    const res = await handle.result();
    const smokeWall = (performance.now() - t0) / 1000;
    if (res.trials[0]?.state !== 'completed') throw new Error(`smoke trial: ${res.trials[0]?.error}`);
    console.log(`smoke trial (${one.train.steps} steps, batch ${one.train.batchSize}, ${one.replicas} replicas): ${smokeWall.toFixed(2)} s from start to end; first training step after ${firstStep.toFixed(2)} s`);
    console.log(`machine: ${cpus().length} cores (shared); Temporal dev server ${server.address}`);
    console.log(
      JSON.stringify({
        bench: 'sweep-orchestration',
        ours: Number(overhead.toFixed(4)),
        reference: Number(smokeWall.toFixed(3)),
        unit: 's per trial: one trivial trial workflow from start to close, mean (ours) vs one smoke trial (reference); lower ratio is better',
        ratio: Number((overhead / smokeWall).toFixed(4)),
        timeToFirstStepS: Number(firstStep.toFixed(3)),
        trivialTrials,
        trivialConcurrency: concurrency,
        trivialWallPerTrialS: Number(wallPerTrial.toFixed(4)),
        ...(scale ? { scaleTrials: scale.trials, scaleTrialsPerMinute: Number(scale.perMinute.toFixed(1)), scaleLargestHistory: scale.largestHistory, scaleSweepRuns: scale.runs } : {}),
      }),
    );
  } finally {
    await Promise.all([fake.stop(), real.stop()]);
    await server.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
