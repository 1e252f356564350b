// `dcign worker --task-queue <q> [--gpus 0,1] [--slots N] [--advertise-host H]`: runs sweep/trial workflows and training
// replicas (one per GPU, or N CPU slots). The handler lazily imports workers/cli.ts.
import type { CommandModule } from 'yargs';

import { temporalTlsFlags, tlsFlagsOf } from './temporal-flags.js';
import type { TemporalTlsArgs } from './temporal-flags.js';

interface WorkerArgs extends TemporalTlsArgs {
  'task-queue': string;
  address?: string;
  namespace: string;
  gpus?: string;
  slots: number;
  'advertise-host'?: string;
  'run-root'?: string;
  mlflow: boolean;
  'replica-command'?: string;
  guard: boolean;
  'cluster-key'?: string;
  'ring-timeout'?: number;
}

export const workerCommand: CommandModule<object, WorkerArgs> = {
  command: 'worker',
  describe: 'Run a worker: sweep/trial workflows and training replicas (one per GPU or N CPU slots)',
  builder: (y) =>
    temporalTlsFlags(y)
      .option('task-queue', { type: 'string', default: 'dcign-train', describe: 'task queue of the sweeps to serve (spec field taskQueue)' })
      .option('address', { type: 'string', describe: 'Temporal frontend (default: env TEMPORAL_ADDRESS, else the local stack started by `dcign dev up`, else 127.0.0.1:7233)' })
      .option('namespace', { type: 'string', default: process.env.TEMPORAL_NAMESPACE ?? 'default' })
      .option('gpus', { type: 'string', describe: 'GPU indices, one training slot each, e.g. 0,1 (sets CUDA_VISIBLE_DEVICES per replica)' })
      .option('slots', { type: 'number', default: 1, describe: 'CPU training slots when no --gpus' })
      .option('advertise-host', { type: 'string', describe: 'address other workers reach this one at and the one interface its replicas bind (default: 127.0.0.1 when Temporal is on loopback, else the first non-internal IPv4)' })
      .option('run-root', { type: 'string', describe: 'trial folders and checkpoints (env DCIGN_RUN_ROOT; shared storage lets another node resume)' })
      .option('mlflow', { type: 'boolean', default: true, describe: 'track runs in MLflow at MLFLOW_TRACKING_URI, else the local stack\'s (--no-mlflow: untracked)' })
      .option('cluster-key', {
        type: 'string',
        default: process.env.DCIGN_CLUSTER_KEY_FILE,
        describe: 'cluster key file (dcign cluster keygen): replicas encrypt ring traffic and admit only peers holding it (env DCIGN_CLUSTER_KEY_FILE)',
      })
      .option('ring-timeout', {
        type: 'number',
        describe: 'seconds a replica waits to hear from its ring before it stops (default 120, at most 3/4 of the trial heartbeat timeout)',
      })
      .option('replica-command', { type: 'string', hidden: true, describe: 'replace the replica process (tests)' })
      .option('guard', { type: 'boolean', default: false, hidden: true, describe: 'run replicas under workers/replica-guard.js (for replica commands that ignore stdin closing)' })
      .check((a) => {
        if (a.gpus !== undefined && !/^\d+(,\d+)*$/.test(a.gpus)) throw new Error(`--gpus takes indices like 0,1; got ${JSON.stringify(a.gpus)}`);
        if (!(Number.isInteger(a.slots) && a.slots >= 1)) throw new Error(`--slots must be an integer >= 1; got ${a.slots}`);
        if (a['ring-timeout'] !== undefined && !(a['ring-timeout'] > 0)) throw new Error(`--ring-timeout must be a positive number of seconds; got ${a['ring-timeout']}`);
        return true;
      }) as never,
  handler: async (a) => {
    const { runWorkerCli } = await import('../../../workers/cli.js');
    const { resolveEndpoints } = await import('../../stack/endpoints.js');
    const { resolveTemporalSecurity } = await import('../../temporal-connection.js');
    const security = resolveTemporalSecurity(tlsFlagsOf(a)); // bad TLS input fails here, before connecting
    const ep = resolveEndpoints(a.address ? { temporalAddress: a.address } : {});
    await runWorkerCli({
      taskQueue: a['task-queue'],
      address: ep.temporalAddress,
      security,
      mlflowUri: ep.mlflowUri,
      namespace: a.namespace,
      ...(a.gpus ? { gpus: a.gpus } : {}),
      slots: a.slots,
      ...(a['advertise-host'] ? { advertiseHost: a['advertise-host'] } : {}),
      ...(a['run-root'] ? { runRoot: a['run-root'] } : {}),
      mlflow: a.mlflow,
      ...(a['replica-command'] ? { replicaCommand: a['replica-command'] } : {}),
      guard: a.guard,
      ...(a['cluster-key'] ? { clusterKeyFile: a['cluster-key'] } : {}),
      ...(a['ring-timeout'] !== undefined ? { ringTimeoutMs: a['ring-timeout'] * 1000 } : {}),
    });
  },
};
