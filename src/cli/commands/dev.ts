// `dcign dev up | down | status | logs`: the embedded Temporal + MLflow stack for a laptop or a CI machine.
import type { Argv, CommandModule } from 'yargs';

interface StackArgs {
  host: string;
  'temporal-port': number;
  'temporal-ui-port': number;
  'mlflow-port': number;
  'state-dir'?: string;
  'allowed-hosts'?: string;
}

function stackFlags<T>(y: Argv<T>): Argv<T & StackArgs> {
  return y
    .option('host', {
      type: 'string',
      default: '127.0.0.1',
      describe: 'Address workers reach the stack at: 127.0.0.1 (this machine), one of its addresses, or 0.0.0.0 (all)',
    })
    .option('allowed-hosts', { type: 'string', describe: 'Extra names workers use for this machine (comma-separated; MLflow refuses other Host headers)' })
    .option('temporal-port', { type: 'number', default: 7233, describe: 'Temporal gRPC port' })
    .option('temporal-ui-port', { type: 'number', default: 8233, describe: 'Temporal Web UI port' })
    .option('mlflow-port', { type: 'number', default: 5000, describe: 'MLflow tracking server port' })
    .option('state-dir', { type: 'string', describe: 'Where databases, artifacts, logs and pids live (default .dcign/)' })
    .check((a) => {
      for (const k of ['temporal-port', 'temporal-ui-port', 'mlflow-port'] as const) {
        const v = a[k];
        if (!Number.isInteger(v) || v < 1 || v > 65535) throw new Error(`--${k} must be a port number 1-65535, got ${v}`);
      }
      return true;
    }) as unknown as Argv<T & StackArgs>;
}

async function options(a: StackArgs) {
  const { stateDir } = await import('../../stack/paths.js');
  return {
    host: a.host,
    temporalPort: a['temporal-port'],
    temporalUiPort: a['temporal-ui-port'],
    mlflowPort: a['mlflow-port'],
    stateDir: a['state-dir'] ?? stateDir(),
    ...(a['allowed-hosts'] ? { allowedHosts: a['allowed-hosts'].split(',').map((h) => h.trim()).filter((h) => h.length > 0) } : {}),
  };
}

const up: CommandModule<object, StackArgs> = {
  command: 'up',
  describe: 'Start the Temporal dev server and the MLflow server; returns when both are healthy',
  builder: (y) => stackFlags(y),
  handler: async (a) => {
    const { stackUp } = await import('../../stack/stack.js');
    const { bindings } = await import('../../stack/services.js');
    const o = await options(a);
    const res = await stackUp(o, (m) => console.error(`[dev] ${m}`));
    printStatuses(res.statuses);
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

const down: CommandModule<object, StackArgs> = {
  command: 'down',
  describe: 'Stop the servers that `dev up` started (by recorded pid) and nothing else',
  builder: (y) => stackFlags(y),
  handler: async (a) => {
    const { stackDown } = await import('../../stack/stack.js');
    const { stopLocalWorkers } = await import('../../stack/workers.js');
    const o = await options(a);
    const workers = await stopLocalWorkers(o.stateDir);
    const stopped = await stackDown(o.stateDir);
    console.log(
      stopped.length || workers ? `stopped: ${[...stopped, ...(workers ? [`${workers} worker(s)`] : [])].join(', ')}` : 'nothing was running',
    );
  },
};

const status: CommandModule<object, StackArgs & { json: boolean }> = {
  command: 'status',
  describe: 'Show whether each server runs and answers its health check',
  builder: (y) => stackFlags(y).option('json', { type: 'boolean', default: false }),
  handler: async (a) => {
    const { stackStatus } = await import('../../stack/stack.js');
    const statuses = await stackStatus(await options(a));
    if (a.json) console.log(JSON.stringify(statuses));
    else printStatuses(statuses);
  },
};

const logs: CommandModule<object, StackArgs & { service?: string; lines: number }> = {
  command: 'logs [service]',
  describe: 'Print the end of the servers\' logs',
  builder: (y) =>
    stackFlags(y)
      .positional('service', { type: 'string', choices: ['temporal', 'mlflow'] })
      .option('lines', { alias: 'n', type: 'number', default: 40 }),
  handler: async (a) => {
    const { stackStatus, tail } = await import('../../stack/stack.js');
    for (const s of await stackStatus(await options(a))) {
      if (a.service && a.service !== s.name) continue;
      console.log(`==> ${s.logFile} <==\n${tail(s.logFile, a.lines)}`);
    }
  },
};

function printStatuses(statuses: readonly { name: string; running: boolean; healthy: boolean; pid?: number; url: string }[]) {
  for (const s of statuses) {
    const state = s.healthy ? 'healthy' : s.running ? 'running, not answering' : 'stopped';
    console.log(`${s.name.padEnd(9)} ${state.padEnd(24)} ${s.pid ? `pid ${s.pid}`.padEnd(11) : ''.padEnd(11)} ${s.url}`);
  }
}

export const devCommand: CommandModule = {
  command: 'dev <command>',
  describe: 'Embedded local stack: Temporal dev server + MLflow server',
  builder: (y) => y.command(up).command(down).command(status).command(logs).demandCommand(1),
  handler: () => undefined,
};
