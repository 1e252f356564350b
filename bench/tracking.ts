// Tracking throughput and cost, against one real MLflow server started for the run:
//  1. metric points per second through our RunLogger next to MLflow's own Python client with asynchronous logging
//     (`mlflow.log_metrics(..., synchronous=False)`, then `mlflow.flush_async_logging()`), the same points per step;
//  2. the time logging adds to a training step: a loop doing a fixed CPU task per step, with and without logger calls;
//  3. the cost of one logging call while the server is down, next to the same call while it is up.
// Prints JSON lines; the last is {"bench":"tracking-points-per-s","ours":X,"reference":Y,"unit":"points/s","ratio":X/Y}
// (higher is better). Usage: npm run bench:tracking [-- --keys 10 --steps 2000 --train-steps 300]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MlflowClient, RunLogger } from '../src/tracking/index.js';
import { MLFLOW_PYTHON, startMlflowServer } from '../test/helpers/mlflow.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(v) ? v : dflt;
}

const KEYS = arg('keys', 10);
const STEPS = arg('steps', 2000);
const TRAIN_STEPS = arg('train-steps', 300);

const PY = `
import json, sys, time
import mlflow
mlflow.set_tracking_uri(sys.argv[1])
keys, steps = int(sys.argv[2]), int(sys.argv[3])
mlflow.set_experiment("bench-python")
with mlflow.start_run() as run:
    t0 = time.perf_counter()
    for s in range(steps):
        mlflow.log_metrics({f"m{k}": s * 0.5 + k for k in range(keys)}, step=s, synchronous=False)
    mlflow.flush_async_logging()
    t1 = time.perf_counter()
print(json.dumps({"seconds": t1 - t0, "points": keys * steps, "run_id": run.info.run_id}))
`;

/** A fixed amount of CPU work standing in for a training step's compute. */
function work(n: number): number {
  let acc = 0;
  for (let i = 0; i < n; i++) acc += Math.sin(i * 0.001) * Math.cos(i * 0.002);
  return acc;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function trainLoop(steps: number, workN: number, logger?: RunLogger): Promise<number> {
  const t0 = performance.now();
  let sink = 0;
  for (let s = 0; s < steps; s++) {
    sink += work(workN);
    if (logger) {
      const v = sink * 1e-9;
      logger.logMetrics({ 'loss/total': v, 'loss/recon': v, 'loss/kl': v, beta_eff: 4, 'kl/dim_0': v, 'kl/dim_1': v, 'kl/dim_2': v, 'img_per_s': s }, s);
    }
    await tick(); // a real trainer awaits its data pipeline and the device: the flusher runs in those gaps
  }
  if (sink === 42) console.log('');
  return (performance.now() - t0) / steps;
}

async function main(): Promise<void> {
  const server = await startMlflowServer();
  const spool = mkdtempSync(path.join(os.tmpdir(), 'dcign-bench-spool-'));
  const client = new MlflowClient({ trackingUri: server.uri });
  try {
    const exp = await client.getOrCreateExperiment('bench-ours');

    // 1. Throughput. Python first, then ours, then Python again, to spread the machine's noise over both.
    const pyFile = path.join(spool, 'bench.py');
    writeFileSync(pyFile, PY);
    const python = (): { seconds: number; points: number; run_id: string } =>
      JSON.parse(execFileSync(MLFLOW_PYTHON, [pyFile, server.uri, String(KEYS), String(STEPS)], { encoding: 'utf8' }).trim().split('\n').pop() as string) as {
        seconds: number;
        points: number;
        run_id: string;
      };
    const ours = async (): Promise<{ seconds: number; points: number; runId: string }> => {
      const { info } = await client.createRun({ experimentId: exp, runName: 'bench' });
      const logger = new RunLogger(client, info.runId, { spoolDir: spool, flushIntervalMs: 100 });
      const t0 = performance.now();
      for (let s = 0; s < STEPS; s++) {
        const rec: Record<string, number> = {};
        for (let k = 0; k < KEYS; k++) rec[`m${k}`] = s * 0.5 + k;
        logger.logMetrics(rec, s);
      }
      const st = await logger.close(600_000);
      const seconds = (performance.now() - t0) / 1000;
      if (!st.complete || st.delivered !== KEYS * STEPS) throw new Error(`ours delivered ${st.delivered} of ${KEYS * STEPS}`);
      return { seconds, points: KEYS * STEPS, runId: info.runId };
    };
    const py1 = python();
    const o1 = await ours();
    const py2 = python();
    const o2 = await ours();
    for (const [label, runId] of [
      ['python', py1.run_id],
      ['ours', o1.runId],
    ] as const) {
      const n = (await client.getMetricHistory(runId, 'm0')).length;
      if (n !== STEPS) throw new Error(`${label} run has ${n} points for m0, expected ${STEPS}`);
    }
    const oursRate = (o1.points + o2.points) / (o1.seconds + o2.seconds);
    const pyRate = (py1.points + py2.points) / (py1.seconds + py2.seconds);

    // 2. Added time per training step (8 metrics per step), alternating runs with and without logging.
    const workN = 40_000;
    await trainLoop(20, workN); // warm up
    const without: number[] = [];
    const withLog: number[] = [];
    for (let rep = 0; rep < 3; rep++) {
      without.push(await trainLoop(TRAIN_STEPS, workN));
      const { info } = await client.createRun({ experimentId: exp, runName: `bench-step-overhead-${rep}` });
      const logger = new RunLogger(client, info.runId, { spoolDir: spool });
      withLog.push(await trainLoop(TRAIN_STEPS, workN, logger));
      await logger.close(600_000);
    }
    // The synchronous part alone: what a logMetrics call of 8 keys costs the step that makes it.
    const { info: enqRun } = await client.createRun({ experimentId: exp, runName: 'bench-enqueue' });
    const enq = new RunLogger(client, enqRun.runId, { spoolDir: spool, flushIntervalMs: 3_600_000, eagerBatchSize: 1e9 });
    const enqSteps = 20_000;
    const e0 = performance.now();
    for (let s = 0; s < enqSteps; s++) {
      enq.logMetrics({ 'loss/total': s, 'loss/recon': s, 'loss/kl': s, beta_eff: 4, 'kl/dim_0': s, 'kl/dim_1': s, 'kl/dim_2': s, img_per_s: s }, s);
    }
    const enqueueUsPerStep = ((performance.now() - e0) * 1000) / enqSteps;
    await enq.close(600_000);
    const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] as number;
    const msWithout = median(without);
    const msWith = median(withLog);
    console.log(
      JSON.stringify({
        bench: 'tracking-step-overhead',
        ours: 1000 / msWith,
        reference: 1000 / msWithout,
        unit: 'steps/s (with logging vs without; 8 metrics per step)',
        ratio: msWithout / msWith,
        msPerStepWithout: msWithout,
        msPerStepWith: msWith,
        addedMsPerStep: msWith - msWithout,
        enqueueUsPerStep,
        runs: { without, with: withLog },
      }),
    );
    // 3. What one logMetrics call costs while the server is down (the backlog grows and is spooled) next to the same
    //    calls while it is up: a training step must not feel the outage.
    const { info: outRun } = await client.createRun({ experimentId: exp, runName: 'bench-outage' });
    const out = new RunLogger(client, outRun.runId, { spoolDir: spool, flushIntervalMs: 50, eagerBatchSize: 50, backoffMs: 50, maxBackoffMs: 500, onError: () => undefined });
    const callMs = async (from: number, n: number): Promise<number[]> => {
      const ms: number[] = [];
      for (let s = from; s < from + n; s++) {
        const t0 = performance.now();
        out.logMetrics({ 'loss/total': s, 'loss/kl': s, 'kl/dim_0': s }, s);
        ms.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 2));
      }
      return ms;
    };
    const up = await callMs(0, 300);
    await server.stop();
    const down = await callMs(300, 300);
    await server.start();
    await out.close(600_000);
    const p99 = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length * 0.99)] as number;
    console.log(
      JSON.stringify({
        bench: 'tracking-log-call-outage',
        ours: p99(down),
        reference: p99(up),
        unit: 'ms per logMetrics call, p99 (server down vs up; lower is better)',
        ratio: p99(down) / p99(up),
        maxMsDown: Math.max(...down),
        maxMsUp: Math.max(...up),
      }),
    );
    console.log(
      JSON.stringify({
        detail: 'throughput runs',
        keys: KEYS,
        steps: STEPS,
        ours: [o1.seconds, o2.seconds],
        python: [py1.seconds, py2.seconds],
        mlflow: execFileSync(MLFLOW_PYTHON, ['-c', 'import mlflow; print(mlflow.__version__)'], { encoding: 'utf8' }).trim(),
      }),
    );
    console.log(JSON.stringify({ bench: 'tracking-points-per-s', ours: oursRate, reference: pyRate, unit: 'points/s', ratio: oursRate / pyRate }));
  } finally {
    client.close();
    await server.dispose();
    rmSync(spool, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
