// `npm run bench:train`: images/s of our training step (forward, backward, Adam) for the standard architecture
// (64x64x1, batch 64, latent 10) next to the PyTorch twin (bench/torch_vae_bench.py) and the same
// model in Keras on the same tensorflow-cpu 2.21 wheel (bench/keras_vae_bench.py), with the same thread count, in one
// run. Configurations run interleaved, round after round, each in a fresh process (TensorFlow reads its thread
// settings once, at load), and the median per configuration is reported: on a shared machine single runs are noisy.
//
// Our configurations (what each changes, against `ours`):
//   ours               the trainer's default step: forward, loss, gradients and Adam as one TensorFlow graph run
//                      (src/graph/vae-step-graph.ts through src/train/graph-step.ts), NHWC, oneDNN on,
//                      TF_NUM_INTRAOP_THREADS=T, INTEROP=1
//   ours-graph-split   the graph step as data parallelism runs it: the flat gradient read back, then fed to Adam
//                      (two session runs per step, no all-reduce in between)
//   ours-adam-flat     the graph step with adam.ts's dozen flat ops instead of ResourceApplyAdam kernels
//   ours-eager         the eager step (stepMode eager, and the fallback): conv2d / matMul, then bias + ReLU as one
//                      native kernel with TensorFlow's ReluGrad / BiasAddGrad as its gradient (src/model/native-ops.ts)
//   ours-unfused       eager, with bias add and ReLU as plain tfjs ops with tfjs's own gradients
//   ours-tf-threads    eager, TensorFlow's own thread defaults (no TF_NUM_*_THREADS)
//   ours-flat          eager, plus the data-parallel path: gradients read back to one Float32Array and uploaded again
//   ours-no-onednn     eager, TF_ENABLE_ONEDNN_OPTS=0: TensorFlow's oneDNN CPU kernels off (src/backend.ts turns them on,
//                      since TensorFlow enables them by default only on recent Intel CPUs)
// Keras runs with the same oneDNN setting as ours (keras), with it off (keras-no-onednn), and op by op without
// tf.function (keras-eager: the execution model tfjs has).
// NCHW is not measured: TensorFlow's CPU conv kernels support NHWC only (tfjs-node's fused conv rejects NCHW).
//
// The model family: for each variant/architecture of --family (default: every variant on every architecture; DCIGN
// on factor batches as it trains), `ours:<variant>/<arch>` runs the trainer's default step for that model (the graph;
// `step` in its line says which ran), `ours-eager:<variant>/<arch>` the same model with --step eager (what the graph
// bought), next to `torch:<variant>/<arch>` and `keras:<variant>/<arch>`, the twins with the same --variant /
// --architecture flags (both twins have every variant); the JSON line's `family` holds each figure and the ratios.
//
// Flags: --rounds N (2) --steps N (10) --warmup N (2) --batch N (64) --latent N (10) --threads N (all cores)
//        --only a,b (configuration names) --no-reference (ours only) --family v/a,v/a | none.
// Last line: {"bench":"train","ours":X,"reference":Y,"unit":"img/s","ratio":X/Y,...}; higher ratio is better.
// Every ratio in it is of a measured pair (bench/train-summary.ts): without the twins installed
// (scripts/setup-bench-twins.sh, which `npm run bench:train` runs first) the run stops before measuring, naming them
// and that command; a twin left out by --only or failing in every round ends the run non-zero without the line.
// --no-reference prints the line with ours alone, no ratio, and "no_reference": true.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARCHITECTURES, MODEL_VARIANTS } from '../src/contract/types.js';
import { leftOut, missingMessage, requiredConfigs, summarise } from './train-summary.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const repo = resolve(here, '..', '..');

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
function argStr(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function worker(): Promise<void> {
  const { tf } = await import('../src/model/tf.js');
  const { resolveModelConfig } = await import('../src/model/config.js');
  const { VaeModel } = await import('../src/model/vae.js');
  const { Adam } = await import('../src/train/adam.js');
  const { computeGradients, applyGradients, applyFlatGradients, flattenGradients } = await import('../src/train/step.js');
  const { GraphStep } = await import('../src/train/graph-step.js');
  const { Rng } = await import('../src/random.js');
  const batch = arg('batch', 64);
  const latent = arg('latent', 10);
  const steps = arg('steps', 10);
  const warmup = arg('warmup', 2);
  const fused = argStr('fused') !== '0';
  const flat = argStr('flat') === '1';
  const stepMode = argStr('step') ?? 'graph'; // graph (the trainer's default, eager where the model has none) | eager
  const split = argStr('split') === '1';
  const variant = (argStr('variant') ?? 'beta-vae') as 'beta-vae';
  const architecture = (argStr('architecture') ?? 'standard') as 'standard';
  // the twins' settings: beta 4 (beta-TCVAE's TC weight too), FactorVAE gamma 10, DIP lambda_od 10
  const cfg = resolveModelConfig({
    imageSize: 64,
    latentSize: latent,
    beta: 4,
    variant,
    architecture,
    factorVae: { gamma: 10, hidden: 1000, layers: 6, learningRate: 1e-4, beta1: 0.5, beta2: 0.9 },
    ...(variant.startsWith('dip-vae') ? { dip: { lambdaOd: 10, lambdaDFactor: (variant as string) === 'dip-vae-i' ? 10 : 1 } } : {}),
  });
  // DCIGN: three 8-valued factors (the faces' azimuth, elevation and light), one latent each, the varied factor
  // cycling per step as the dcign sampler's batches do
  const dcignFactors = [8, 8, 8].map((size, i) => ({ name: `f${i}`, size }));
  const model = new VaeModel(cfg, 0, { channels: 1, fused, ...(variant === ('dcign' as string) ? { factors: dcignFactors } : {}) });
  const adam = { learningRate: 1e-4, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
  const opt = new Adam(model.params, adam, model.groups);
  const adamKernel = argStr('adam') === 'flat' ? 'flat' : 'fused';
  const made = stepMode === 'graph' && fused ? GraphStep.create(model, adam, batch, adamKernel) : 'eager asked for';
  const graph = typeof made === 'string' ? undefined : made;
  graph?.loadFrom(opt);
  // Like the reference: one fixed binary batch; the noise is drawn per step (it follows the sample indices).
  const rng = new Rng(0);
  const images = new Float32Array(batch * 64 * 64).map(() => (rng.float() > 0.5 ? 1 : 0));
  const factors = Array.from({ length: batch }, () => [0]);
  const step = (s: number): void => {
    const globalIndices = Array.from({ length: batch }, (_, i) => s * batch + i);
    const varied = variant === ('dcign' as string) ? { variedFactor: s % dcignFactors.length } : {};
    const last = s === warmup + steps - 1;
    if (graph !== undefined) {
      const b = { images, batchSize: batch, factors, globalIndices, ...varied };
      if (split) graph.apply(opt, graph.gradients(b, s, 0, last).flat);
      else graph.train(opt, b, s, 0, last);
      return;
    }
    const { grads, scalars } = computeGradients(model, { images, batchSize: batch, factors, globalIndices, ...varied }, s, 0, s === warmup + steps - 1);
    if (flat) {
      const f = flattenGradients(grads);
      for (const x of grads) x.dispose();
      applyFlatGradients(opt, f);
    } else applyGradients(opt, grads);
    if (scalars) {
      scalars.dataSync();
      scalars.dispose();
    }
  };
  for (let s = 0; s < warmup; s++) step(s);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let s = warmup; s < warmup + steps; s++) step(s); // the last step reads its loss back: a full sync
  const dt = (performance.now() - t0) / 1000 / steps;
  const cpu = process.cpuUsage(c0);
  const cpuMs = (cpu.user + cpu.system) / 1000 / steps;
  console.log(
    JSON.stringify({
      framework: 'tfjs-node',
      backend: tf.getBackend(),
      variant,
      architecture,
      parameters: model.paramCounts().total,
      fused,
      flat,
      step: graph === undefined ? 'eager' : split ? 'graph-split' : 'graph',
      adam: graph === undefined ? 'eager' : adamKernel,
      ms_per_step: +(dt * 1000).toFixed(2),
      img_per_s: +(batch / dt).toFixed(1),
      cpu_ms_per_step: +cpuMs.toFixed(1),
      tensors: tf.memory().numTensors,
    }),
  );
}

interface Config {
  readonly name: string;
  readonly cmd: string;
  readonly args: string[];
  readonly env: NodeJS.ProcessEnv;
}

interface Sample {
  readonly imgPerS: number;
  /** CPU time (all threads) per step, where the program reports it (ours, keras and our torch twin all do). */
  readonly cpuMsPerStep?: number;
  /** Ours: which step ran (graph, graph-split or eager). */
  readonly step?: string;
}

function runOnce(c: Config): Sample | undefined {
  const r = spawnSync(c.cmd, c.args, { env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', ...c.env }, encoding: 'utf8', timeout: 15 * 60_000 });
  const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
  if (r.status !== 0 || line === undefined) {
    console.error(`${c.name}: failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
    return undefined;
  }
  const v = JSON.parse(line) as { img_per_s: number; cpu_ms_per_step?: number; step?: string };
  return { imgPerS: v.img_per_s, ...(v.cpu_ms_per_step === undefined ? {} : { cpuMsPerStep: v.cpu_ms_per_step }), ...(v.step === undefined ? {} : { step: v.step }) };
}

function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function main(): Promise<void> {
  if (process.argv.includes('--worker')) return worker();
  const rounds = arg('rounds', 2);
  const steps = arg('steps', 10);
  const warmup = arg('warmup', 2);
  const batch = arg('batch', 64);
  const latent = arg('latent', 10);
  const threads = arg('threads', cpus().length);
  const only = argStr('only')?.split(',');
  const common = ['--batch', String(batch), '--latent', String(latent), '--steps', String(steps), '--warmup', String(warmup)];
  const threadEnv = { TF_NUM_INTRAOP_THREADS: String(threads), TF_NUM_INTEROP_THREADS: '1' };
  const self = fileURLToPath(import.meta.url);
  const cache = process.env.DCIGN_CACHE ?? join(homedir(), '.cache', 'dcign');
  const torchPy = join(cache, 'torch-venv', 'bin', 'python');
  const kerasPy = join(cache, 'keras-venv', 'bin', 'python');
  const torchScript = process.env.DCIGN_TORCH_BENCH ?? resolve(repo, 'bench', 'torch_vae_bench.py');
  const kerasScript = resolve(repo, 'bench', 'keras_vae_bench.py');
  const configs: Config[] = [
    { name: 'ours', cmd: process.execPath, args: [self, '--worker', ...common], env: threadEnv },
    { name: 'ours-graph-split', cmd: process.execPath, args: [self, '--worker', '--split', '1', ...common], env: threadEnv },
    { name: 'ours-adam-flat', cmd: process.execPath, args: [self, '--worker', '--adam', 'flat', ...common], env: threadEnv },
    { name: 'ours-eager', cmd: process.execPath, args: [self, '--worker', '--step', 'eager', ...common], env: threadEnv },
    { name: 'ours-unfused', cmd: process.execPath, args: [self, '--worker', '--step', 'eager', '--fused', '0', ...common], env: threadEnv },
    { name: 'ours-tf-threads', cmd: process.execPath, args: [self, '--worker', '--step', 'eager', ...common], env: {} },
    { name: 'ours-flat', cmd: process.execPath, args: [self, '--worker', '--step', 'eager', '--flat', '1', ...common], env: threadEnv },
    { name: 'ours-no-onednn', cmd: process.execPath, args: [self, '--worker', '--step', 'eager', ...common], env: { ...threadEnv, TF_ENABLE_ONEDNN_OPTS: '0' } },
  ];
  const reference = !process.argv.includes('--no-reference');
  if (reference) {
    // every ratio in the last line is of a measured pair (bench/train-summary.ts): without a twin, stop before
    // measuring anything, with the command that installs them (npm run bench:train runs it first)
    const absent = [
      ...(existsSync(torchPy) ? [] : [`torch (${torchPy})`]),
      ...(existsSync(torchScript) ? [] : [`torch script (${torchScript})`]),
      ...(existsSync(kerasPy) ? [] : [`keras (${kerasPy})`]),
    ];
    if (absent.length > 0) {
      console.error(`bench:train: reference twins not installed: ${absent.join(', ')}.\nInstall them with: bash scripts/setup-bench-twins.sh   (or measure ours alone: --no-reference)`);
      process.exit(2);
    }
    configs.push({ name: 'torch', cmd: torchPy, args: [torchScript, ...common, '--threads', String(threads)], env: {} });
    const kerasArgs = [kerasScript, ...common, '--threads', String(threads)];
    configs.push({ name: 'keras', cmd: kerasPy, args: kerasArgs, env: { TF_ENABLE_ONEDNN_OPTS: '1' } });
    configs.push({ name: 'keras-no-onednn', cmd: kerasPy, args: kerasArgs, env: { TF_ENABLE_ONEDNN_OPTS: '0' } });
    configs.push({ name: 'keras-eager', cmd: kerasPy, args: [...kerasArgs, '--eager'], env: { TF_ENABLE_ONEDNN_OPTS: '1' } });
  }
  // The model family, each next to its twins (same flags).
  const familyArg = argStr('family') ?? MODEL_VARIANTS.flatMap((v) => ARCHITECTURES.map((a) => `${v}/${a}`)).join(',');
  const family = familyArg === 'none' ? [] : familyArg.split(',').filter((f) => f.includes('/'));
  for (const f of family) {
    const [variant, architecture] = f.split('/') as [string, string];
    if (!(MODEL_VARIANTS as readonly string[]).includes(variant) || !(ARCHITECTURES as readonly string[]).includes(architecture)) {
      throw new Error(`--family ${f}: variants are ${MODEL_VARIANTS.join(', ')}; architectures ${ARCHITECTURES.join(', ')}`);
    }
    const flags = ['--variant', variant, '--architecture', architecture];
    configs.push({ name: `ours:${f}`, cmd: process.execPath, args: [self, '--worker', ...common, ...flags], env: threadEnv });
    configs.push({ name: `ours-eager:${f}`, cmd: process.execPath, args: [self, '--worker', '--step', 'eager', ...common, ...flags], env: threadEnv });
    if (!reference) continue;
    // both twins have every variant (their --variant choices), DCIGN on the same cycling one-factor batches
    configs.push({ name: `torch:${f}`, cmd: torchPy, args: [torchScript, ...common, '--threads', String(threads), ...flags], env: {} });
    configs.push({ name: `keras:${f}`, cmd: kerasPy, args: [kerasScript, ...common, '--threads', String(threads), ...flags], env: { TF_ENABLE_ONEDNN_OPTS: '1' } });
  }
  const chosen = only ? configs.filter((c) => only.includes(c.name)) : configs;
  // the family rows of this run: those whose ours:<row> runs (--only may pick a few)
  const rows = family.filter((f) => chosen.some((c) => c.name === `ours:${f}`));
  const notRun = leftOut(requiredConfigs(rows, reference), chosen.map((c) => c.name));
  if (notRun.length > 0) {
    console.error(`bench:train: --only leaves out ${notRun.join(', ')}, which the JSON line's ratios need; add them to --only`);
    process.exit(2);
  }
  console.error(`bench:train  batch ${batch}, latent ${latent}, 64x64x1, ${threads} threads, ${steps} steps after ${warmup} warm-up, ${rounds} interleaved rounds`);
  const results = new Map<string, number[]>(chosen.map((c) => [c.name, []]));
  const cpuMs = new Map<string, number[]>(chosen.map((c) => [c.name, []]));
  const stepOf = new Map<string, string>();
  // ours / torch within each round: the two ran back to back, so a paired ratio is less exposed to the machine's
  // drifting load than the ratio of medians
  const paired: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const round: Record<string, number> = {};
    for (const c of chosen) {
      const v = runOnce(c);
      if (v !== undefined) {
        results.get(c.name)!.push(v.imgPerS);
        round[c.name] = v.imgPerS;
      }
      if (v?.cpuMsPerStep !== undefined) cpuMs.get(c.name)!.push(v.cpuMsPerStep);
      if (v?.step !== undefined) stepOf.set(c.name, v.step);
      const cpuText = v?.cpuMsPerStep === undefined ? '' : `  (${v.cpuMsPerStep.toFixed(0)} CPU-ms/step)`;
      console.error(`round ${r + 1}/${rounds}  ${c.name.padEnd(28)} ${v === undefined ? 'failed' : `${v.imgPerS.toFixed(1)} img/s${cpuText}`}`);
    }
    if (round.ours !== undefined && round.torch !== undefined) paired.push(+(round.ours / round.torch).toFixed(3));
  }
  const med = Object.fromEntries([...results].map(([k, v]) => [k, median(v)]));
  const medCpu = Object.fromEntries([...cpuMs].filter(([, v]) => v.length > 0).map(([k, v]) => [k, median(v)]));
  console.error('\nmedian img/s: ' + Object.entries(med).map(([k, v]) => `${k} ${v?.toFixed(1) ?? '-'}`).join(', '));
  console.error('median CPU-ms/step: ' + Object.entries(medCpu).map(([k, v]) => `${k} ${v?.toFixed(0) ?? '-'}`).join(', '));
  if (paired.length > 0) console.error(`ours / torch per round: ${paired.join(', ')} (median ${median(paired)})`);
  const summary = summarise({ medians: med, family: rows, reference, stepOf });
  if (!summary.ok) {
    console.error(missingMessage(summary.missing));
    process.exit(1);
  }
  for (const [f, v] of Object.entries(summary.family)) {
    const fmt = (x: number | undefined): string => x?.toFixed(1) ?? '-';
    console.error(
      `${f.padEnd(24)} ours (${v.step ?? '-'}) ${fmt(v.ours)}  eager ${fmt(v.eager)}  torch ${fmt(v.torch)}  keras ${fmt(v.keras)}  ours/eager ${v.ratio_vs_eager ?? '-'}  ours/torch ${v.ratio ?? '-'}  ours/keras ${v.ratio_vs_keras ?? '-'}`,
    );
  }
  const eager = med['ours-eager'];
  const { ok: _ok, ...figures } = summary;
  console.log(
    JSON.stringify({
      bench: 'train',
      ...(reference ? {} : { no_reference: true }),
      ...figures,
      unit: 'img/s',
      higher_is_better: true,
      ...(eager === undefined ? {} : { eager, ...(reference && summary.keras !== undefined ? { eager_ratio_vs_keras: +(eager / summary.keras).toFixed(3) } : {}) }),
      ...(reference ? { ratio_per_round: paired, ratio_per_round_median: median(paired) } : {}),
      configs: med,
      cpu_ms_per_step: medCpu,
      runs: Object.fromEntries(results),
      threads,
      batch,
      latent,
      rounds,
      load: (await import('node:os')).loadavg().map((x) => +x.toFixed(1)),
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
