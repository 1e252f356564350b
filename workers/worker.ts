// A dcign worker process: runs the sweep/trial workflows and their activities. Two Temporal workers share one
// connection: `<queue>` takes workflow tasks and training replicas (at most one per slot: one per GPU or N CPU
// slots), `<queue>.control` takes the short bookkeeping activities (MLflow runs, evaluation, summary) so they never
// wait for a training slot.
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import type { WorkflowBundleOption } from '@temporalio/worker';
import type { Logger } from '@temporalio/common';

import { MlflowClient } from '../src/tracking/index.js';
import { controlQueue } from '../src/contract/index.js';
import { createActivities } from './activities.js';
import type { ActivityDeps } from './activities.js';
import { SlotPool } from './slots.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/workers
/** The compiled workflow entry the worker bundles (we compile with tsc to dist/). */
export const WORKFLOWS_PATH = path.resolve(here, '../workflows/index.js');
export const REPLICA_CHILD_PATH = path.resolve(here, '../src/train/replica-child.js');
export const GUARD_PATH = path.resolve(here, 'replica-guard.js');

export interface DcignWorkerOptions {
  readonly taskQueue: string;
  /** Temporal frontend, host:port. */
  readonly address: string;
  readonly namespace?: string;
  /** GPU indices; one training slot each. Without them, `slots` CPU slots. */
  readonly gpus?: readonly string[];
  readonly slots?: number;
  readonly advertiseHost?: string;
  readonly runRoot: string;
  /** MLflow tracking URI; none: untracked. */
  readonly mlflowUri?: string;
  /** Replica command (default: node dist/src/train/replica-child.js). */
  readonly replicaCommand?: readonly string[];
  /**
   * Run each replica under workers/replica-guard.js (one more process per replica), for replica commands that do not
   * stop when their stdin closes. replica-child.ts does, so the default is off.
   */
  readonly guard?: boolean;
  /** A prebuilt workflow bundle (tests build one and reuse it); default: bundle WORKFLOWS_PATH at start. */
  readonly workflowBundle?: WorkflowBundleOption;
  readonly evaluate?: ActivityDeps['evaluate'];
  readonly identity?: string;
  readonly progressIntervalMs?: number;
  /** Extra environment for replica processes. */
  readonly replicaEnv?: NodeJS.ProcessEnv;
  /** How long running replicas get to stop when the worker shuts down (default 10 s). */
  readonly shutdownGraceMs?: number;
}

export interface DcignWorker {
  readonly advertiseHost: string;
  readonly slots: number;
  /** Runs until shutdown() (or a fatal error). */
  run(): Promise<void>;
  shutdown(): void;
}

/**
 * Where this worker's replicas bind and are reached, unless --advertise-host says: loopback when Temporal is on this
 * machine's loopback (then every worker of the cluster is on this machine, and a ring socket on a public interface
 * would only invite strangers), else the first non-internal IPv4 address.
 */
export function defaultAdvertiseHost(temporalAddress: string): string {
  const host = temporalAddress.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host === '::1' || /^127\./.test(host)) return '127.0.0.1';
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** Webpack's statistics (about 20 lines at every start) go at info level: keep only warnings and errors. */
const bundlerLogger: Logger = {
  log: (level, message, meta) => {
    if (level === 'WARN' || level === 'ERROR') console.error(message, meta ?? '');
  },
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message, meta) => console.error(message, meta ?? ''),
  error: (message, meta) => console.error(message, meta ?? ''),
};

export async function createDcignWorker(o: DcignWorkerOptions): Promise<DcignWorker> {
  const namespace = o.namespace ?? 'default';
  const slots = o.gpus && o.gpus.length > 0 ? SlotPool.gpus(o.gpus) : SlotPool.cpu(o.slots ?? 1);
  const advertiseHost = o.advertiseHost ?? defaultAdvertiseHost(o.address);
  const native = await NativeConnection.connect({ address: o.address });
  const connection = await Connection.connect({ address: o.address });
  const temporal = new Client({ connection, namespace });
  const mlflow = o.mlflowUri ? new MlflowClient({ trackingUri: o.mlflowUri }) : undefined;
  const activities = createActivities({
    temporal,
    namespace,
    ...(mlflow ? { mlflow } : {}),
    runRoot: o.runRoot,
    advertiseHost,
    replicaCommand: o.replicaCommand ?? [process.execPath, REPLICA_CHILD_PATH],
    guardCommand: o.guard === true ? [process.execPath, GUARD_PATH] : [],
    slots,
    ...(o.evaluate ? { evaluate: o.evaluate } : {}),
    ...(o.progressIntervalMs !== undefined ? { progressIntervalMs: o.progressIntervalMs } : {}),
    ...(o.replicaEnv ? { replicaEnv: o.replicaEnv } : {}),
  });
  const common = {
    connection: native,
    namespace,
    ...(o.identity ? { identity: o.identity } : {}),
    shutdownGraceTime: o.shutdownGraceMs ?? 10_000,
    // Cancellation reaches an activity with its next heartbeat: keep that prompt so cancel stops replicas in seconds.
    maxHeartbeatThrottleInterval: '1s',
    defaultHeartbeatThrottleInterval: '1s',
  } as const;
  const training = await Worker.create({
    ...common,
    taskQueue: o.taskQueue,
    workflowBundle: o.workflowBundle ?? (await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: bundlerLogger })),
    activities: { trainReplica: activities.trainReplica },
    maxConcurrentActivityTaskExecutions: slots.size,
  });
  const control = await Worker.create({
    ...common,
    taskQueue: controlQueue(o.taskQueue),
    activities: {
      setupSweep: activities.setupSweep,
      createTrialRun: activities.createTrialRun,
      evaluate: activities.evaluate,
      finishTrialRun: activities.finishTrialRun,
      summarizeSweep: activities.summarizeSweep,
    },
    maxConcurrentActivityTaskExecutions: 4,
  });
  return {
    advertiseHost,
    slots: slots.size,
    run: async () => {
      try {
        await Promise.all([training.run(), control.run()]);
      } finally {
        mlflow?.close();
        await connection.close();
        await native.close();
      }
    },
    shutdown: () => {
      if (training.getState() === 'RUNNING') training.shutdown();
      if (control.getState() === 'RUNNING') control.shutdown();
    },
  };
}
