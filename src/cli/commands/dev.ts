// `dcign dev up | down | status | logs`: the embedded Temporal + MLflow stack for a laptop or a CI machine, or with
// `--profile cluster` a lab's head node (MLflow on PostgreSQL with artifacts in an S3 bucket), without containers.
import type { Argv, CommandModule } from 'yargs';

export interface StateArgs {
  'state-dir'?: string;
}

export interface StackArgs extends StateArgs {
  host: string;
  'temporal-port': number;
  'temporal-ui-port': number;
  'mlflow-port': number;
  'allowed-hosts'?: string;
  profile: 'local' | 'cluster';
  'postgres-port': number;
  's3-port': number;
}

function stateFlag<T>(y: Argv<T>): Argv<T & StateArgs> {
  return y.option('state-dir', {
    type: 'string',
    describe: 'Where databases, artifacts, logs, pids and the ports in use live (default .dcign/, env DCIGN_STATE_DIR)',
  }) as unknown as Argv<T & StateArgs>;
}

/** The flags that place the stack: `dev up` and `demo` take them. */
export function stackFlags<T>(y: Argv<T>): Argv<T & StackArgs> {
  return stateFlag(y)
    .option('host', {
      type: 'string',
      default: '127.0.0.1',
      describe: 'Address workers reach the stack at: 127.0.0.1 (this machine), one of its addresses, or 0.0.0.0 (all)',
    })
    .option('allowed-hosts', { type: 'string', describe: 'Extra names workers use for this machine (comma-separated; MLflow refuses other Host headers)' })
    .option('temporal-port', { type: 'number', default: 7233, describe: 'Temporal gRPC port' })
    .option('temporal-ui-port', { type: 'number', default: 8233, describe: 'Temporal Web UI port' })
    .option('mlflow-port', { type: 'number', default: 5000, describe: 'MLflow tracking server port' })
    .option('profile', {
      choices: ['local', 'cluster'] as const,
      default: 'local' as const,
      describe: 'local: MLflow on SQLite, artifacts on disk. cluster: a head node, MLflow on PostgreSQL with artifacts in an S3 bucket (versitygw)',
    })
    .option('postgres-port', { type: 'number', default: 5432, describe: "PostgreSQL port (--profile cluster; loopback only, MLflow's store)" })
    .option('s3-port', { type: 'number', default: 7070, describe: 'S3 store port (--profile cluster; loopback only, behind MLflow)' })
    .check((a) => {
      for (const k of ['temporal-port', 'temporal-ui-port', 'mlflow-port', 'postgres-port', 's3-port'] as const) {
        const v = a[k];
        if (!Number.isInteger(v) || v < 1 || v > 65535) throw new Error(`--${k} must be a port number 1-65535, got ${v}`);
      }
      return true;
    }) as unknown as Argv<T & StackArgs>;
}

async function stateDirOf(a: StateArgs): Promise<string> {
  const { stateDir } = await import('../../stack/paths.js');
  return a['state-dir'] ?? stateDir();
}

export async function stackOptions(a: StackArgs): Promise<import('../../stack/services.js').StackOptions> {
  return {
    host: a.host,
    temporalPort: a['temporal-port'],
    temporalUiPort: a['temporal-ui-port'],
    mlflowPort: a['mlflow-port'],
    stateDir: await stateDirOf(a),
    ...(a.profile === 'cluster' ? { profile: 'cluster' as const, postgresPort: a['postgres-port'], s3Port: a['s3-port'] } : {}),
    ...(a['allowed-hosts'] ? { allowedHosts: a['allowed-hosts'].split(',').map((h) => h.trim()).filter((h) => h.length > 0) } : {}),
  };
}

/** down, status and logs act on what `up` recorded in the state dir; ports and host come from there. */
async function recordedOptions(a: StateArgs): Promise<import('../../stack/services.js').StackOptions> {
  const { DEFAULT_PORTS } = await import('../../stack/endpoints.js');
  return { host: '127.0.0.1', ...DEFAULT_PORTS, stateDir: await stateDirOf(a) };
}

const up: CommandModule<object, StackArgs> = {
  command: 'up',
  describe: 'Start the Temporal dev server and the MLflow server (with --profile cluster: on PostgreSQL and an S3 store); returns when all are healthy',
  builder: (y) => stackFlags(y),
  handler: async (a) => {
    const { stackUp } = await import('../../stack/stack.js');
    const { exportsFor } = await import('../../stack/endpoints.js');
    const { bindings } = await import('../../stack/services.js');
    const o = await stackOptions(a);
    const res = await stackUp(o, (m) => console.error(`[dev] ${m}`));
    printStatuses(res.statuses);
    if (o.profile === 'cluster') {
      const { ARTIFACT_DESTINATION } = await import('../../stack/cluster-head.js');
      console.log(
        `\nMLflow keeps runs in PostgreSQL and artifacts in ${ARTIFACT_DESTINATION}; both stores listen on 127.0.0.1 only ` +
          `(workers reach artifacts through MLflow). Credentials: ${o.stateDir}/postgres/password, ${o.stateDir}/s3/credentials.json (mode 0600).\n` +
          `Temporal is the production server on the same PostgreSQL (SQL visibility), its Web UI the Temporal UI server.`,
      );
    }
    const exports = exportsFor(o);
    if (exports.length > 0) {
      console.log(
        `\nNon-default ports: dcign commands run in this project find them in ${o.stateDir}/stack.json; ` +
          `for other shells, machines or clones, export:\n${exports.map((l) => `  ${l}`).join('\n')}`,
      );
    }
    const b = bindings(o);
    if (b.workerAddresses.length === 0) {
      console.log('serving this machine only; --host <address> or --host 0.0.0.0 serves workers on other hosts');
    } else {
      if (b.temporalIp !== o.host) console.log(`Temporal listens on every interface (0.0.0.0): its dev server cannot serve from one address`);
      for (const addr of b.workerAddresses) {
        console.log(`workers on other hosts: TEMPORAL_ADDRESS=${addr}:${o.temporalPort} MLFLOW_TRACKING_URI=http://${addr}:${o.mlflowPort}`);
      }
    }
  },
};

const down: CommandModule<object, StateArgs> = {
  command: 'down',
  describe: 'Stop the servers and workers that `dev up` and `demo` started (by recorded pid) and nothing else',
  builder: (y) => stateFlag(y),
  handler: async (a) => {
    const { stackDown } = await import('../../stack/stack.js');
    const { stopLocalWorkers } = await import('../../stack/workers.js');
    const dir = await stateDirOf(a);
    const workers = await stopLocalWorkers(dir);
    const stopped = await stackDown(dir);
    console.log(
      stopped.length || workers ? `stopped: ${[...stopped, ...(workers ? [`${workers} worker(s)`] : [])].join(', ')}` : 'nothing was running',
    );
  },
};

const status: CommandModule<object, StateArgs & { json: boolean }> = {
  command: 'status',
  describe: 'Show whether each server of the recorded stack runs and answers its health check, and where',
  builder: (y) => stateFlag(y).option('json', { type: 'boolean', default: false }),
  handler: async (a) => {
    const { stackStatus } = await import('../../stack/stack.js');
    const statuses = await stackStatus(await recordedOptions(a));
    if (a.json) console.log(JSON.stringify(statuses));
    else if (statuses.every((s) => s.url === undefined)) {
      console.log(`the local stack is down (nothing recorded in ${await stateDirOf(a)}); start it with \`dcign dev up\``);
    } else printStatuses(statuses);
  },
};

const logs: CommandModule<object, StateArgs & { service?: string; lines: number }> = {
  command: 'logs [service]',
  describe: "Print the end of the servers' and the local workers' logs",
  builder: (y) =>
    stateFlag(y)
      .positional('service', { type: 'string', choices: ['temporal', 'temporal-ui', 'mlflow', 'postgres', 's3', 'worker'], describe: 'one of them (default: all)' })
      .option('lines', { alias: 'n', type: 'number', default: 40 }),
  handler: async (a) => {
    const { stackStatus, tail } = await import('../../stack/stack.js');
    const { workerLogFiles } = await import('../../stack/workers.js');
    const o = await recordedOptions(a);
    const files = [
      ...(await stackStatus(o)).filter((s) => !a.service || a.service === s.name).map((s) => s.logFile),
      ...(!a.service || a.service === 'worker' ? workerLogFiles(o.stateDir) : []),
    ];
    if (a.service === 'worker' && files.length === 0) {
      console.log(`no worker logs in ${o.stateDir}/logs: only workers started by \`dcign demo\` log there (a \`dcign worker\` you start logs to its terminal)`);
    }
    for (const f of files) console.log(`==> ${f} <==\n${tail(f, a.lines)}`);
  },
};

function printStatuses(statuses: readonly { name: string; running: boolean; healthy: boolean; pid?: number; url?: string }[]) {
  for (const s of statuses) {
    const state = s.healthy ? 'healthy' : s.running ? 'running, not answering' : 'stopped';
    console.log(`${s.name.padEnd(9)} ${state.padEnd(24)} ${s.pid ? `pid ${s.pid}`.padEnd(11) : ''.padEnd(11)} ${s.url ?? ''}`.trimEnd());
  }
}

export const devCommand: CommandModule = {
  command: 'dev <command>',
  describe: 'Embedded stack: Temporal dev server + MLflow server (--profile cluster: on PostgreSQL and an S3 store)',
  builder: (y) => y.command(up).command(down).command(status).command(logs).demandCommand(1),
  handler: () => undefined,
};
