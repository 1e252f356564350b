// A dcign worker process: runs the sweep/trial workflows and their activities. Two Temporal workers share one
// connection: `<queue>` takes workflow tasks and training replicas (at most one per slot: one per GPU or N CPU
// slots), `<queue>.control` takes the short bookkeeping activities (MLflow runs, evaluation, summary) so they never
// wait for a training slot.
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import type { WorkflowBundleOption } from '@temporalio/worker';
import type { Logger } from '@temporalio/common';

import { readClusterKeyFile } from '../src/parallel/curve.js';
import { MlflowClient } from '../src/tracking/index.js';
import { controlQueue } from '../src/contract/index.js';
import { createActivities } from './activities.js';
import { createSearchActivities } from './search-activities.js';
import type { ActivityDeps } from './activity-deps.js';
import { SlotPool } from './slots.js';
import { temporalConnectionOptions } from '../src/temporal-connection.js';
import type { TemporalSecurity } from '../src/temporal-connection.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/workers
/** The compiled workflow entry the worker bundles (we compile with tsc to dist/). */
export const WORKFLOWS_PATH = path.resolve(here, '../workflows/index.js');
export const REPLICA_CHILD_PATH = path.resolve(here, '../src/train/replica-child.js');
export const GUARD_PATH = path.resolve(here, 'replica-guard.js');

export interface DcignWorkerOptions {
  readonly taskQueue: string;
  /** Temporal frontend, host:port. */
  readonly address: string;
  /** TLS / mTLS / API key for both connections (src/stack/temporal-connection.ts); default plaintext. */
  readonly security?: TemporalSecurity;
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
  /** How often rank 0's worker asks its trial whether a pause was requested (ms; default 1000). */
  readonly pausePollMs?: number;
  /** Extra environment for replica processes. */
  readonly replicaEnv?: NodeJS.ProcessEnv;
  /** How long running replicas get to stop when the worker shuts down (default 10 s). */
  readonly shutdownGraceMs?: number;
  /**
   * The cluster key file (`dcign cluster keygen`): every replica encrypts its ring traffic with it and admits only
   * peers presenting it. Read and checked here at start; replicas get its path, never the key.
   */
  readonly clusterKeyFile?: string;
  /** Optuna's RDB storage for search.optimize studies (default: a SQLite file per sweep under runRoot/optuna). */
  readonly optunaStorage?: string;
  /** How long a replica waits to hear from its ring before it stops (ms; see ./ring-timeout.ts). */
  readonly ringTimeoutMs?: number;
}

export interface DcignWorker {
  readonly advertiseHost: string;
  /** Whether replicas authenticate each other with the cluster key. */
  readonly clusterKey: boolean;
  readonly slots: number;
  /** Training slots held by running replicas now (a paused sweep's trials hold none). */
  slotsInUse(): number;
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

const WILDCARD = new Set(['0.0.0.0', '::', '[::]', '*', '']);

/**
 * Replicas bind their ring socket on the advertised address and nowhere else, so it must be one interface of this
 * machine: a wildcard would expose the ring on every network, and an address of another machine cannot be bound.
 */
export function checkAdvertiseHost(host: string, local: readonly string[] = localAddresses()): void {
  if (WILDCARD.has(host)) {
    throw new Error(`--advertise-host ${JSON.stringify(host)} is every interface: give the one address other workers reach this host at (replicas bind only it)`);
  }
  if (isIP(host.replace(/^\[|\]$/g, '')) !== 0 && !local.includes(host.replace(/^\[|\]$/g, ''))) {
    throw new Error(`--advertise-host ${host} is not an address of this machine (it has ${local.join(', ')}): replicas bind it, so give one of these`);
  }
}

function localAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((a) => a ?? [])
    .map((a) => a.address);
}

export async function createDcignWorker(o: DcignWorkerOptions): Promise<DcignWorker> {
  const namespace = o.namespace ?? 'default';
  const slots = o.gpus && o.gpus.length > 0 ? SlotPool.gpus(o.gpus) : SlotPool.cpu(o.slots ?? 1);
  const advertiseHost = o.advertiseHost ?? defaultAdvertiseHost(o.address);
  checkAdvertiseHost(advertiseHost);
  // a missing or bad key fails the worker now, not each replica later
  const clusterKeyFile = o.clusterKeyFile ? path.resolve(o.clusterKeyFile) : undefined;
  if (clusterKeyFile) readClusterKeyFile(clusterKeyFile);
  const replicaEnv = { ...o.replicaEnv, ...(clusterKeyFile ? { DCIGN_CLUSTER_KEY_FILE: clusterKeyFile } : {}) };
  const connect = temporalConnectionOptions(o.address, o.security);
  const native = await NativeConnection.connect(connect);
  const connection = await Connection.connect(connect).catch(async (err: unknown) => {
    await native.close();
    throw err;
  });
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
    ...(o.pausePollMs !== undefined ? { pausePollMs: o.pausePollMs } : {}),
    replicaEnv,
    ...(o.ringTimeoutMs !== undefined ? { ringTimeoutMs: o.ringTimeoutMs } : {}),
  });
  const search = createSearchActivities({ runRoot: o.runRoot, ...(o.optunaStorage ? { storage: o.optunaStorage } : {}), ...(mlflow ? { mlflow } : {}) });
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
      reopenSweep: activities.reopenSweep,
      createTrialRun: activities.createTrialRun,
      pauseTrialRun: activities.pauseTrialRun,
      evaluate: activities.evaluate,
      finishTrialRun: activities.finishTrialRun,
      summarizeSweep: activities.summarizeSweep,
      searchStep: search.searchStep,
      markSearchRuns: search.markSearchRuns,
      copyPbtCheckpoint: activities.copyPbtCheckpoint,
      recordPbtGeneration: activities.recordPbtGeneration,
    },
    maxConcurrentActivityTaskExecutions: 4,
  });
  return {
    advertiseHost,
    clusterKey: clusterKeyFile !== undefined || Boolean(replicaEnv.DCIGN_CLUSTER_KEY_FILE ?? process.env.DCIGN_CLUSTER_KEY_FILE),
    slots: slots.size,
    slotsInUse: () => slots.inUse,
    run: async () => {
      try {
        await Promise.all([training.run(), control.run()]);
      } finally {
        search.close();
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
