// `dcign train` implementation: builds the TrainConfig from flags (and the checkpoint's config when resuming), runs
// one model locally (or R local data-parallel replicas), shows progress, and leaves checkpoints and summary.json in
// a run folder whose path it prints first.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { checkDatasetName } from '../data/index.js';
import { resolveCheckpointDir } from './checkpoint.js';
import { loadRunConfigFile } from './run-config-file.js';
import { resolveTrainConfig, type TrainConfig, type TrainConfigInput } from './config.js';
import type { TrainResult } from './run.js';
import { defaultBeta, type ModelConfig } from '../model/config.js';

export interface TrainFlags {
  /** undefined: log when MLFLOW_TRACKING_URI is set or the embedded server answers; true: must log; false: never. */
  readonly mlflow?: boolean;
  readonly experiment?: string;
  readonly dataset?: string;
  readonly model?: string;
  readonly beta?: number;
  readonly latent?: number;
  readonly steps?: number;
  readonly batchSize?: number;
  readonly lr?: number;
  readonly seed?: number;
  readonly imageSize?: number;
  readonly encoderKernels?: string;
  readonly architecture?: string;
  readonly decoder?: string;
  readonly clipNorm?: number;
  readonly stepMode?: string;
  /** Data-parallel gradient compression on the wire: none, fp16 or bf16. */
  readonly compression?: string;
  readonly logEvery?: number;
  readonly runDir?: string;
  readonly checkpointEvery?: number;
  readonly resume?: string;
  /** A run config file (dataset, model and train sections, as a sweep spec has); flags override it. */
  readonly config?: string;
  readonly replicas?: number;
  readonly json?: boolean;
  /** The local stack's MLflow address (src/cli resolves it from .dcign/stack.json; src/train does not read the stack). */
  readonly localMlflowUri?: string;
}

/**
 * Flags -> TrainConfig. The base is the run config file (--config) or, resuming, the checkpoint's config; flags given
 * explicitly override it.
 */
export function configFromFlags(flags: TrainFlags, now = new Date()): TrainConfig {
  let base: TrainConfigInput = {};
  let resumeFrom: string | undefined;
  if (flags.config !== undefined && flags.resume !== undefined) {
    throw new Error('--config and --resume cannot be combined: a resumed run continues with its checkpoint\'s config (flags still override it)');
  }
  if (flags.config !== undefined) base = loadRunConfigFile(flags.config);
  if (flags.resume !== undefined) {
    resumeFrom = resolveCheckpointDir(flags.resume);
    base = JSON.parse(readFileSync(join(resumeFrom, 'config.json'), 'utf8')) as TrainConfigInput;
  }
  const model: { -readonly [K in keyof ModelConfig]?: ModelConfig[K] } = { ...base.model };
  const set = <K extends keyof ModelConfig>(k: K, v: ModelConfig[K] | undefined): void => {
    if (v !== undefined) (model as Record<string, unknown>)[k] = v;
  };
  set('variant', flags.model as ModelConfig['variant'] | undefined);
  set('beta', flags.beta);
  set('latentSize', flags.latent);
  set('imageSize', flags.imageSize);
  set('encoderKernels', flags.encoderKernels as ModelConfig['encoderKernels'] | undefined);
  set('architecture', flags.architecture as ModelConfig['architecture'] | undefined);
  set('decoder', flags.decoder as ModelConfig['decoder'] | undefined);
  if (model.imageSize === undefined && (flags.dataset ?? base.dataset) === 'dsprites-small') model.imageSize = 32;
  const input: Record<string, unknown> = { ...base, model };
  const put = (k: keyof TrainConfig, v: unknown): void => {
    if (v !== undefined) input[k] = v;
  };
  put('dataset', flags.dataset);
  put('steps', flags.steps);
  put('batchSize', flags.batchSize);
  put('learningRate', flags.lr);
  put('seed', flags.seed);
  put('clipNorm', flags.clipNorm);
  put('stepMode', flags.stepMode);
  put('compression', flags.compression);
  put('logEvery', flags.logEvery);
  put('checkpointEvery', flags.checkpointEvery);
  if (resumeFrom !== undefined) input.resumeFrom = resumeFrom;
  if (flags.runDir !== undefined) input.runDir = resolve(flags.runDir);
  else if (resumeFrom !== undefined) input.runDir = dirname(dirname(resumeFrom)); // <run>/checkpoints/step-N
  else {
    const m = { ...model };
    const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const name = `${String(input.dataset ?? 'dsprites').replace(/[^A-Za-z0-9._-]/g, '_')}-${m.variant ?? 'beta-vae'}-b${m.beta ?? defaultBeta(m.variant)}-L${m.latentSize ?? 10}-s${String(input.seed ?? 0)}-${stamp}`;
    input.runDir = resolve('.dcign', 'runs', name);
  }
  return resolveTrainConfig(input as TrainConfigInput);
}

function fmt(n: number | undefined, digits = 2): string {
  return n === undefined || !Number.isFinite(n) ? String(n) : n.toFixed(digits);
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/** A one-line progress bar on a terminal, JSON lines otherwise. */
export class Progress {
  private readonly tty: boolean;
  private lastLen = 0;
  /** Step and time of the first log, taken together: the rate is measured from there. */
  private base: { readonly step: number; readonly ms: number } | undefined;

  constructor(
    private readonly total: number,
    json: boolean,
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tty = !json && out.isTTY === true;
  }

  log(step: number, s: Record<string, number>): void {
    if (!this.tty) {
      this.out.write(JSON.stringify({ type: 'log', step, ...s }) + '\n');
      return;
    }
    // Start-up (backend, dataset, model) and the first log interval are not a training rate: until a second log,
    // the loop's own steps_per_s; from then on, steps over time since the first log.
    const ms = this.now();
    let rate: number;
    if (this.base === undefined) {
      this.base = { step, ms };
      rate = s.steps_per_s ?? NaN;
    } else {
      rate = ((step - this.base.step) * 1000) / Math.max(1e-9, ms - this.base.ms);
    }
    const eta = rate > 0 ? (this.total - step) / rate : NaN;
    const width = 24;
    const filled = Math.round((width * step) / this.total);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    const line =
      `[${bar}] ${step}/${this.total}  ${fmt(s.steps_per_s, 1)} steps/s  loss ${fmt(s.loss)}  recon ${fmt(s.recon)}  ` +
      `kl ${fmt(s.kl)}  ETA ${duration(eta)}`;
    this.out.write('\r' + line.padEnd(this.lastLen));
    this.lastLen = line.length;
  }

  note(msg: Record<string, unknown>, text: string): void {
    if (!this.tty) this.out.write(JSON.stringify(msg) + '\n');
    else {
      this.out.write('\r' + ' '.repeat(this.lastLen) + '\r' + text + '\n');
      this.lastLen = 0;
    }
  }

  end(): void {
    if (this.tty && this.lastLen > 0) this.out.write('\n');
  }
}

/** The command that continues a run from its last checkpoint (the checkpoint holds the config). */
export const resumeCommand = (runDir: string): string => `dcign train --resume ${runDir}`;

export async function runTrainCommand(flags: TrainFlags): Promise<void> {
  const cfg = configFromFlags(flags);
  // Before the backend loads or an MLflow run exists: a typo must not leave a FAILED run behind.
  checkDatasetName(cfg.dataset);
  const json = flags.json === true || process.stdout.isTTY !== true;
  const progress = new Progress(cfg.steps, json);
  const replicas = flags.replicas ?? 1;
  const onReplicas = replicas > 1 ? ` (${replicas} data-parallel replicas)` : '';
  progress.note({ type: 'start', runDir: cfg.runDir, replicas, config: cfg }, `run folder: ${cfg.runDir}${onReplicas}`);
  const resume = resumeCommand(cfg.runDir);
  const ac = new AbortController();
  const onSigint = (): void => {
    if (ac.signal.aborted) {
      progress.note({ type: 'quit', resume }, `quit; resume from the last checkpoint with: ${resume}`);
      process.exit(130);
    }
    progress.note({ type: 'stopping', resume }, `stopping after this step, writing a checkpoint (Ctrl-C again to quit at once); then resume with: ${resume}`);
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  const { loadBackend } = await import('../backend.js');
  const { info } = await loadBackend();
  const { openTrainTracking } = await import('./tracking.js');
  const mode = flags.mlflow === undefined ? 'auto' : flags.mlflow ? 'on' : 'off';
  const tracking = await openTrainTracking(cfg, mode, flags.experiment ?? 'dcign-train', info, flags.localMlflowUri);
  if (tracking) progress.note({ type: 'mlflow', runId: tracking.runId, url: tracking.url }, `MLflow run: ${tracking.url}`);
  const hooks = {
    onLog: (step: number, s: Record<string, number>) => {
      progress.log(step, s);
      tracking?.onLog(step, s);
    },
    onCheckpoint: (step: number, path: string) => {
      progress.note({ type: 'checkpoint', step, path }, `checkpoint: ${path}`);
      tracking?.onCheckpoint(step, path);
    },
    signal: ac.signal,
  };
  let result: TrainResult;
  try {
    if (replicas > 1) {
      const { launchLocalReplicas } = await import('./launch-local.js');
      result = await launchLocalReplicas(cfg, replicas, hooks);
    } else {
      const { runTraining } = await import('./run.js');
      result = await runTraining(cfg, hooks);
    }
  } catch (err) {
    await tracking?.finish(undefined, {});
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
    progress.end();
  }
  const summaryPath = join(cfg.runDir, 'summary.json');
  await tracking?.finish(result, existsSync(summaryPath) ? { summary: summaryPath } : {});
  const text =
    `${result.status === 'aborted' ? 'stopped' : 'done'} at step ${result.step}/${cfg.steps}` +
    `${replicas > 1 ? ` with ${replicas} replicas` : ''}: ` +
    `loss ${fmt(result.lastScalars?.loss)}, ${fmt(result.imagesPerSecond, 1)} img/s` +
    `, step ${result.stepExecution.mode}${result.stepExecution.reason === undefined ? '' : ` (${result.stepExecution.reason})`}` +
    (result.eval ? `, held-out ELBO ${fmt(result.eval.elbo)} nats/image` : '') +
    `\nsummary: ${summaryPath}` +
    (result.lastCheckpoint ? `\ncheckpoint: ${result.lastCheckpoint}` : '') +
    (result.status === 'aborted' ? `\nresume with: ${resume}` : '');
  progress.note({ type: 'done', summary: summaryPath, replicas, result, ...(result.status === 'aborted' ? { resume } : {}) }, text);
}
