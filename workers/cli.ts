// `dcign worker`: runs a dcign worker until SIGINT/SIGTERM, then stops its replicas and exits.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import path from 'node:path';

import { checkGpuSlots } from './gpu-check.js';
import { createDcignWorker } from './worker.js';
import type { ActivityDeps } from './activity-deps.js';
import { describeTemporalSecurity } from '../src/temporal-connection.js';
import type { TemporalSecurity } from '../src/temporal-connection.js';

const execFileAsync = promisify(execFile);

export interface WorkerCliArgs {
  readonly taskQueue: string;
  readonly address: string;
  /** TLS / API key for Temporal (default plaintext). */
  readonly security?: TemporalSecurity;
  readonly namespace: string;
  readonly gpus?: string;
  readonly slots: number;
  readonly advertiseHost?: string;
  readonly runRoot?: string;
  readonly mlflow: boolean;
  /** Tracking server in use (flag/env, the local stack's record, or the default). */
  readonly mlflowUri: string;
  readonly replicaCommand?: string;
  readonly guard?: boolean;
  readonly clusterKeyFile?: string;
  readonly ringTimeoutMs?: number;
}

/** The evaluator (workers/evaluate.ts) in a child process, so tfjs never blocks this worker's heartbeats. */
export const childEvaluator: NonNullable<ActivityDeps['evaluate']> = async (req, signal) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'dcign-eval-'));
  try {
    const file = path.join(dir, 'request.json');
    await writeFile(file, JSON.stringify(req));
    const child = fileURLToPath(new URL('./evaluate-child.js', import.meta.url));
    // An aborted evaluation (the activity cancelled) kills its child: a stopped trial's rung stops costing CPU.
    const { stdout } = await execFileAsync(process.execPath, [child, file], { maxBuffer: 16 << 20, ...(signal ? { signal } : {}) }).catch((err: { stderr?: string; message: string }) => {
      if (signal?.aborted === true) throw new Error(`evaluation of ${req.trialKey} cancelled`);
      throw new Error(`evaluation of ${req.trialKey} failed: ${(err.stderr ?? '').trim().split('\n').slice(-3).join(' | ') || err.message}`);
    });
    const line = stdout.trim().split('\n').pop() ?? '{}';
    return (JSON.parse(line) as { metrics: Record<string, number> }).metrics;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

export async function runWorkerCli(a: WorkerCliArgs): Promise<void> {
  const gpus = a.gpus ? a.gpus.split(',').map((s) => s.trim()).filter((s) => s.length > 0) : undefined;
  if (gpus) checkGpuSlots(gpus);
  const runRoot = path.resolve(a.runRoot ?? process.env.DCIGN_RUN_ROOT ?? path.join(homedir(), '.cache/dcign/runs'));
  const evaluate = childEvaluator;
  const mlflowUri = a.mlflow ? a.mlflowUri : undefined;
  const worker = await createDcignWorker({
    taskQueue: a.taskQueue,
    address: a.address,
    ...(a.security ? { security: a.security } : {}),
    namespace: a.namespace,
    ...(gpus ? { gpus } : { slots: a.slots }),
    ...(a.advertiseHost ? { advertiseHost: a.advertiseHost } : {}),
    runRoot,
    ...(mlflowUri ? { mlflowUri } : {}),
    evaluate,
    ...(a.replicaCommand ? { replicaCommand: a.replicaCommand.split(' ').filter((s) => s.length > 0) } : {}),
    ...(a.guard ? { guard: true } : {}),
    ...(a.clusterKeyFile ? { clusterKeyFile: a.clusterKeyFile } : {}),
    ...(a.ringTimeoutMs !== undefined ? { ringTimeoutMs: a.ringTimeoutMs } : {}),
  });
  const where = gpus ? `GPUs ${gpus.join(',')}` : `${worker.slots} CPU slot(s)`;
  console.log(
    JSON.stringify({
      type: 'worker',
      taskQueue: a.taskQueue,
      temporal: a.address,
      temporalSecurity: describeTemporalSecurity(a.security ?? {}),
      slots: worker.slots,
      devices: where,
      advertiseHost: worker.advertiseHost,
      runRoot,
      mlflow: mlflowUri ?? null,
      ringAuth: worker.clusterKey ? 'cluster key (CURVE)' : 'none',
      evaluator: 'workers/evaluate.ts',
    }),
  );
  if (!worker.clusterKey && !/^127\./.test(worker.advertiseHost)) {
    console.log(
      JSON.stringify({
        type: 'worker',
        warning: `replicas accept ring connections on ${worker.advertiseHost} without authentication; make a key with \`dcign cluster keygen --out FILE\` and start every worker with --cluster-key FILE`,
      }),
    );
  }
  const stop = (): void => {
    console.log(JSON.stringify({ type: 'worker', event: 'stopping', detail: 'running replicas are being stopped' }));
    worker.shutdown();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await worker.run();
}
