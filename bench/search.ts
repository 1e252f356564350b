// Search that learns, on a planted objective with a known optimum (no training: the fake replica runs one step and a
// planted evaluator scores the trial from its parameters), through the real Temporal workflows and the real Optuna:
//   mig(beta, lr) = 1 - ((log10 beta - 0.7)^2 + (log10 lr + 3)^2) / 4, best 1 at beta = 10^0.7, lr = 1e-3.
// TPE (and GP when torch is installed) against Optuna's random sampler at the same budget, BENCH_REPS repetitions
// (default 10, sampler seed = repetition): the median best value and the median trials to come within BENCH_EPS of
// the optimum; and the same TPE driven by plain Optuna (study.optimize, no Temporal), so the orchestration's cost per
// asked trial is a ratio. Ends with one JSON line.
import { execFile } from 'node:child_process';
import { cpus } from 'node:os';
import { promisify } from 'node:util';

import { startSweep } from '../src/sweep/control.js';
import { optunaPython } from '../src/search/driver-client.js';
import { startTemporal } from '../test/helpers/temporal.js';
import { bundle, smallSpec, startWorker, tempDir } from '../test/helpers/sweep-fixture.js';

const run = promisify(execFile);
const REPS = Number(process.env.BENCH_REPS ?? 10);
const TRIALS = Number(process.env.BENCH_TRIALS ?? 30);
const EPS = Number(process.env.BENCH_EPS ?? 0.02);
const BATCH = Number(process.env.BENCH_BATCH ?? 1);
const SAMPLERS = (process.env.BENCH_SAMPLERS ?? 'tpe,random').split(',');

const planted = (beta: number, lr: number): number => 1 - ((Math.log10(beta) - 0.7) ** 2 + (Math.log10(lr) + 3) ** 2) / 4;

async function evaluate(req: { trialKey: string }): Promise<Record<string, number>> {
  const beta = Number(/beta=([^,]+)/.exec(req.trialKey)?.[1]);
  const lr = Number(/lr=([^,]+)/.exec(req.trialKey)?.[1]);
  return { mig: planted(beta, lr) };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
/** First 1-based trial whose best-so-far is within EPS of the optimum (1); TRIALS + 1 when never. */
const trialsToEps = (values: readonly number[]): number => {
  const i = values.findIndex((v) => v >= 1 - EPS);
  return i < 0 ? TRIALS + 1 : i + 1;
};

interface Rep {
  readonly values: number[];
  readonly wallS: number;
}

const PLAIN = `
import json, math, sys, time, optuna
optuna.logging.set_verbosity(optuna.logging.ERROR)
name, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mk = {"tpe": lambda: optuna.samplers.TPESampler(seed=seed, n_startup_trials=10), "random": lambda: optuna.samplers.RandomSampler(seed=seed),
      "gp": lambda: optuna.samplers.GPSampler(seed=seed, n_startup_trials=10)}[name]
study = optuna.create_study(direction="maximize", sampler=mk(), storage="sqlite:///" + sys.argv[4], study_name="plain")
def f(t):
    b = t.suggest_float("beta", 0.1, 100, log=True); lr = t.suggest_float("learningRate", 1e-5, 1e-1, log=True)
    return 1 - ((math.log10(b) - 0.7) ** 2 + (math.log10(lr) + 3) ** 2) / 4
t0 = time.perf_counter(); study.optimize(f, n_trials=n)
print(json.dumps({"values": [t.value for t in study.trials], "wallS": time.perf_counter() - t0}))
`;

async function main(): Promise<void> {
  const [server, code, runRoot] = await Promise.all([startTemporal(), bundle(), tempDir('bench-search')]);
  const worker = await startWorker({ taskQueue: 'bench-search', address: server.address, slots: 4, runRoot, code, evaluate });
  const ours = new Map<string, Rep[]>();
  const plain = new Map<string, Rep[]>();
  try {
    for (const sampler of SAMPLERS) {
      for (let rep = 0; rep < REPS; rep++) {
        const spec = smallSpec(`bench-${sampler}-${rep}`, 'bench-search', {
          maxConcurrentTrials: Math.max(2, BATCH),
          replicas: 1,
          train: { steps: 1, logEvery: 1, checkpointEvery: 1, fakeStepMs: 0 },
          search: { grid: undefined, seeds: [0], optimize: { sampler, trials: TRIALS, batch: BATCH, seed: rep, startup: 10, params: { beta: { logUniform: [0.1, 100] }, learningRate: { logUniform: [1e-5, 1e-1] } } } },
          evaluation: { metrics: ['mig'], numTrain: 10, numTest: 10 },
          objective: 'mig',
        });
        const t0 = performance.now();
        const r = await (await startSweep(server.client, spec)).result();
        const wallS = (performance.now() - t0) / 1000;
        if (r.search?.error || (r.search?.configs.length ?? 0) !== TRIALS) throw new Error(`${spec.name}: ${r.search?.error ?? `${r.search?.configs.length} configurations`}`);
        const values = [...(r.search?.configs ?? [])].sort((a, b) => a.number - b.number).map((c) => c.values?.[0] ?? -Infinity);
        (ours.get(sampler) ?? ours.set(sampler, []).get(sampler))?.push({ values, wallS });
        const db = `${runRoot}/plain-${sampler}-${rep}.db`;
        const p = JSON.parse((await run(optunaPython(), ['-c', PLAIN, sampler, String(rep), String(TRIALS), db])).stdout) as Rep;
        (plain.get(sampler) ?? plain.set(sampler, []).get(sampler))?.push(p);
        console.log(`${sampler} rep ${rep}: ours best ${Math.max(...values).toFixed(4)} in ${wallS.toFixed(1)} s; plain Optuna best ${Math.max(...p.values).toFixed(4)} in ${p.wallS.toFixed(2)} s`);
      }
    }
  } finally {
    await worker.stop();
    await server.stop();
  }
  const bestSoFar = (vs: readonly number[]): number[] => vs.map((_, i) => Math.max(...vs.slice(0, i + 1)));
  const summary = (reps: readonly Rep[]) => ({
    medianBest: median(reps.map((r) => Math.max(...r.values))),
    medianTrialsToEps: median(reps.map((r) => trialsToEps(bestSoFar(r.values)))),
    sPerTrial: median(reps.map((r) => r.wallS / TRIALS)),
  });
  const table: Record<string, { ours: ReturnType<typeof summary>; plain: ReturnType<typeof summary> }> = {};
  for (const s of SAMPLERS) table[s] = { ours: summary(ours.get(s) ?? []), plain: summary(plain.get(s) ?? []) };
  console.log(`\nplanted optimum 1.0; budget ${TRIALS} trials, batch ${BATCH}, ${REPS} repetitions, epsilon ${EPS} (never reached counts ${TRIALS + 1})`);
  console.log('sampler  driver         median best  median trials to eps  s/trial');
  for (const [s, v] of Object.entries(table)) {
    for (const [d, x] of [['ours (Temporal)', v.ours], ['plain Optuna', v.plain]] as const) {
      console.log(`${s.padEnd(8)} ${d.padEnd(15)} ${x.medianBest.toFixed(4).padStart(11)}  ${String(x.medianTrialsToEps).padStart(20)}  ${x.sPerTrial.toFixed(3)}`);
    }
  }
  // Trials TPE needs to reach random search's final (median) best.
  const tpe = ours.get('tpe');
  const randomBest = table.random?.ours.medianBest;
  const tpeToRandom = tpe && randomBest !== undefined ? median(tpe.map((r) => {
    const i = bestSoFar(r.values).findIndex((v) => v >= randomBest);
    return i < 0 ? TRIALS + 1 : i + 1;
  })) : undefined;
  if (tpeToRandom !== undefined) console.log(`TPE (ours) reaches random search's median final best ${randomBest?.toFixed(4)} in a median ${tpeToRandom} of ${TRIALS} trials`);
  const oursS = table.tpe?.ours.sPerTrial ?? NaN;
  const plainS = table.tpe?.plain.sPerTrial ?? NaN;
  console.log(`machine: ${cpus().length} cores (shared); each trial through Temporal is a 1-step fake-replica trial plus a planted evaluation`);
  console.log(
    JSON.stringify({
      bench: 'search',
      ours: Number(oursS.toFixed(4)),
      reference: Number(plainS.toFixed(5)),
      unit: 's per asked trial: TPE through the durable sweep (ask/tell activity, trial workflow, evaluation) vs plain Optuna study.optimize on the same objective',
      ratio: Number((oursS / plainS).toFixed(1)),
      orchestrationSPerTrial: Number((oursS - plainS).toFixed(4)),
      trials: TRIALS,
      reps: REPS,
      epsilon: EPS,
      ...Object.fromEntries(Object.entries(table).flatMap(([s, v]) => [
        [`${s}MedianBest`, Number(v.ours.medianBest.toFixed(4))],
        [`${s}TrialsToEps`, v.ours.medianTrialsToEps],
        [`${s}PlainTrialsToEps`, v.plain.medianTrialsToEps],
      ])),
      ...(tpeToRandom !== undefined ? { tpeTrialsToRandomBest: tpeToRandom } : {}),
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
