// TensorFlow.js backend selection. Training runs only on native TensorFlow: the GPU binding
// (@tensorflow/tfjs-node-gpu) when it loads and a GPU is visible, else the CPU binding (@tensorflow/tfjs-node).
// The pure-JavaScript backend is about 1600x slower on the standard model, so it is never a fallback.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type TfModule = typeof import('@tensorflow/tfjs-node');
export type BackendVariant = 'gpu' | 'cpu';

export interface BackendInfo {
  /** tfjs backend name; always 'tensorflow' (native). */
  readonly backend: string;
  readonly variant: BackendVariant;
  /** The package that provides it. */
  readonly package: '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu';
  /** Human-readable device: GPU name(s) or CPU model. */
  readonly device: string;
  readonly tensorflowVersion: string;
  readonly tfjsVersion: string;
  /** Whether TensorFlow's oneDNN CPU kernels are on (TF_ENABLE_ONEDNN_OPTS, default on). */
  readonly onednn: boolean;
}

export interface LoadOptions {
  /** 'auto' (default): GPU when its binding loads and a GPU is visible. DCIGN_DEVICE=cpu|gpu overrides. */
  readonly prefer?: 'auto' | BackendVariant;
}

export const SETUP_COMMAND = 'npm run setup   (or: bash scripts/setup-tensorflow.sh, add --gpu on GPU nodes)';

let loaded: { tf: TfModule; info: BackendInfo } | undefined;

/** Loads native TensorFlow once per process and returns the tfjs module bound to it. */
export async function loadTf(options: LoadOptions = {}): Promise<TfModule> {
  return (await loadBackend(options)).tf;
}

export async function loadBackend(options: LoadOptions = {}): Promise<{ tf: TfModule; info: BackendInfo }> {
  if (loaded) return loaded;
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  // TensorFlow turns its oneDNN CPU kernels on by default only on Intel CPUs with AVX-512 VNNI or newer; elsewhere
  // (e.g. AMD EPYC) eager Conv2DBackpropFilter runs about 3x slower without them (bench/train.ts: ours vs
  // ours-no-onednn). Read once, when libtensorflow loads; TF_ENABLE_ONEDNN_OPTS=0 turns them off.
  process.env.TF_ENABLE_ONEDNN_OPTS ??= '1';
  const prefer = options.prefer ?? envPreference();
  const gpus = prefer === 'cpu' ? [] : visibleGpus();
  const failures: string[] = [];

  if (prefer === 'gpu' || (prefer === 'auto' && gpus.length > 0)) {
    try {
      const tf = (await import('@tensorflow/tfjs-node-gpu')) as unknown as TfModule;
      loaded = { tf, info: describe(tf, 'gpu', gpus.join(', ') || 'no GPU visible (running on CPU)') };
      return loaded;
    } catch (err) {
      failures.push(`@tensorflow/tfjs-node-gpu: ${firstLine(err)}`);
      if (prefer === 'gpu') throw noNativeBackend(failures, 'bash scripts/setup-tensorflow.sh --gpu');
    }
  }
  try {
    const tf = await import('@tensorflow/tfjs-node');
    loaded = { tf, info: describe(tf, 'cpu', cpuModel()) };
    return loaded;
  } catch (err) {
    failures.push(`@tensorflow/tfjs-node: ${firstLine(err)}`);
    throw noNativeBackend(failures, SETUP_COMMAND);
  }
}

/** What was chosen, for logging; undefined before loadTf() ran. */
export function backendInfo(): BackendInfo | undefined {
  return loaded?.info;
}

function describe(tf: TfModule, variant: BackendVariant, device: string): BackendInfo {
  const backend = tf.getBackend();
  if (backend !== 'tensorflow') {
    throw new Error(`native TensorFlow did not become the tfjs backend (got '${backend}'). Fix: ${SETUP_COMMAND}`);
  }
  const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
  return {
    backend,
    variant,
    package: variant === 'gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node',
    device,
    tensorflowVersion: binding?.TF_Version ?? 'unknown',
    tfjsVersion: tf.version.tfjs,
    onednn: !['0', 'false', 'off'].includes((process.env.TF_ENABLE_ONEDNN_OPTS ?? '').toLowerCase()),
  };
}

function noNativeBackend(failures: string[], fix: string): Error {
  return new Error(
    `no native TensorFlow backend could be loaded (dcign never trains on the pure-JavaScript backend).\n` +
      failures.map((f) => `  - ${f}`).join('\n') +
      `\nFix: run ${fix}`,
  );
}

function envPreference(): 'auto' | BackendVariant {
  const v = process.env.DCIGN_DEVICE;
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  if (v === 'cpu' || v === 'gpu') return v;
  throw new Error(`DCIGN_DEVICE='${v}' is not a device choice: use cpu, gpu or auto.`);
}

/** GPU names from nvidia-smi, honouring CUDA_VISIBLE_DEVICES; empty when there is none or it is hidden. */
export function visibleGpus(): string[] {
  if (process.env.CUDA_VISIBLE_DEVICES === '' || process.env.CUDA_VISIBLE_DEVICES === '-1') return [];
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=index,name', '--format=csv,noheader'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    });
    const visible = process.env.CUDA_VISIBLE_DEVICES?.split(',').map((s) => s.trim());
    return out
      .split('\n')
      .map((l) => l.split(',').map((s) => s.trim()))
      .filter(([index, name]) => index !== undefined && name && (!visible || visible.includes(index)))
      .map(([index, name]) => `GPU ${index}: ${name}`);
  } catch {
    return [];
  }
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    return `CPU: ${line?.split(':')[1]?.trim() ?? 'unknown'}`;
  } catch {
    return 'CPU';
  }
}

/**
 * LD_LIBRARY_PATH for a process that will load the GPU binding: the CUDA libraries of the `tensorflow[and-cuda]`
 * wheel live in nvidia/* packages of the GPU virtualenv that scripts/setup-tensorflow.sh --gpu prepares. The dynamic
 * loader reads this only at process start, so workers set it on the training children they spawn.
 */
export function gpuLibraryPath(cache = process.env.DCIGN_CACHE ?? join(homedir(), '.cache', 'dcign')): string | undefined {
  const venvLib = join(cache, 'tf-gpu-venv', 'lib');
  if (!existsSync(venvLib)) return undefined;
  const dirs: string[] = [];
  for (const py of readdirSync(venvLib)) {
    const nvidia = join(venvLib, py, 'site-packages', 'nvidia');
    if (!existsSync(nvidia)) continue;
    for (const pkg of readdirSync(nvidia)) {
      const lib = join(nvidia, pkg, 'lib');
      if (existsSync(lib)) dirs.push(lib);
    }
  }
  return dirs.length ? [...dirs, process.env.LD_LIBRARY_PATH ?? ''].filter(Boolean).join(':') : undefined;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
