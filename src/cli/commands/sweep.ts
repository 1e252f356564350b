// `dcign sweep <start|status|list|pause|resume|cancel|add|results>`: one yargs module per sub-command; each handler
// lazily imports src/sweep/cli.ts so `dcign --help` stays fast and argument parsing is testable without Temporal.
import type { Argv, CommandModule } from 'yargs';

import { temporalTlsFlags, tlsFlagsOf } from './temporal-flags.js';
import type { TemporalTlsArgs } from './temporal-flags.js';

interface Common extends TemporalTlsArgs {
  address?: string;
  namespace: string;
  ui?: string;
}

const IN_USE = 'else the local stack started by `dcign dev up`, else';
const common = <T>(y: Argv<T>): Argv<T & Common> =>
  temporalTlsFlags(y)
    .option('address', { type: 'string', describe: `Temporal frontend host:port (default: env TEMPORAL_ADDRESS, ${IN_USE} 127.0.0.1:7233)` })
    .option('namespace', { type: 'string', default: process.env.TEMPORAL_NAMESPACE ?? 'default', describe: 'Temporal namespace (env TEMPORAL_NAMESPACE)' })
    .option('ui', { type: 'string', describe: `Temporal Web UI base URL, for links (default: env TEMPORAL_UI, ${IN_USE} http://localhost:8233)` }) as Argv<T & Common>;

type Resolved<A> = A & { address: string; ui: string; mlflowUri: string; security: import('../../temporal-connection.js').TemporalSecurity };

/** The CLI's addresses and links: flag, then environment, then the recorded local stack, then defaults. */
async function inUse<A extends Common>(a: A): Promise<Resolved<A>> {
  const { resolveEndpoints } = await import('../../stack/endpoints.js');
  const { resolveTemporalSecurity } = await import('../../temporal-connection.js');
  const security = resolveTemporalSecurity(tlsFlagsOf(a)); // bad TLS input fails here, before connecting
  const ep = resolveEndpoints({ ...(a.address ? { temporalAddress: a.address } : {}), ...(a.ui ? { temporalUi: a.ui } : {}) });
  return { ...a, address: ep.temporalAddress, ui: ep.temporalUi, mlflowUri: ep.mlflowUri, security };
}

const impl = (): Promise<typeof import('../../sweep/cli.js')> => import('../../sweep/cli.js');

const start: CommandModule<Common, Common & { spec: string; wait: boolean }> = {
  command: 'start <spec>',
  describe: 'Validate a sweep spec (sweeps/*.yaml) and start it; prints the Temporal UI and MLflow links',
  builder: (y) =>
    common(y)
      .positional('spec', { type: 'string', demandOption: true, describe: 'path to the sweep spec' })
      .option('wait', { type: 'boolean', default: false, describe: 'follow progress until the sweep ends, then print the results' }),
  handler: async (a) => (await impl()).sweepStart(await inUse(a)),
};

const status: CommandModule<Common, Common & { name: string; format: string }> = {
  command: 'status <name>',
  describe: 'Per trial: parameters, state, step, latest losses, metrics',
  builder: (y) =>
    common(y)
      .positional('name', { type: 'string', demandOption: true })
      .option('format', { choices: ['table', 'json'], default: 'table' }),
  handler: async (a) => (await impl()).sweepStatus(await inUse(a)),
};

const list: CommandModule<Common, Common> = {
  command: 'list',
  describe: 'Sweeps known to Temporal and their state',
  builder: (y) => common(y),
  handler: async (a) => (await impl()).sweepList(await inUse(a)),
};

const signal = (action: 'pause' | 'resume' | 'cancel', describe: string): CommandModule<Common, Common & { name: string }> => ({
  command: `${action} <name>`,
  describe,
  builder: (y) => common(y).positional('name', { type: 'string', demandOption: true }),
  handler: async (a) => (await impl()).sweepSignal({ ...(await inUse(a)), action }),
});

const add: CommandModule<Common, Common & { name: string; points: string[] }> = {
  command: 'add <name> <points..>',
  describe: 'Add trials to a running sweep, e.g. `dcign sweep add smoke beta=3,latent=10,seed=0`',
  builder: (y) =>
    common(y)
      .positional('name', { type: 'string', demandOption: true })
      .positional('points', { type: 'string', array: true, demandOption: true, describe: 'NAME=VALUE,...,seed=N (several: separate by space or ;)' })
      .check((a) => {
        for (const p of a.points) if (!/seed=\d+/.test(p)) throw new Error(`point ${JSON.stringify(p)} names no seed (e.g. seed=0)`);
        return true;
      }),
  handler: async (a) => (await impl()).sweepAdd(await inUse(a)),
};

const results: CommandModule<Common, Common & { name: string; format: 'table' | 'csv' | 'json'; sort?: string; all: boolean }> = {
  command: 'results <name>',
  describe: "Results of every trial, best first by the spec's objective (else its first metric): configuration, recon, KL, the objective and the spec's metrics",
  builder: (y) =>
    common(y)
      .positional('name', { type: 'string', demandOption: true })
      .option('format', { choices: ['table', 'csv', 'json'] as const, default: 'table' as const })
      .option('sort', { type: 'string', describe: "metric or loss to sort by instead of the spec's objective (losses ascending, metrics descending)" })
      .option('all', { type: 'boolean', default: false, describe: 'every column: parameters, step, every loss and metric' }),
  handler: async (a) => (await impl()).sweepResults(await inUse(a)),
};

export const sweepCommand: CommandModule = {
  command: 'sweep <command>',
  describe: 'Run and watch hyperparameter sweeps on Temporal',
  builder: (y) =>
    y
      .command(start as unknown as CommandModule)
      .command(status as unknown as CommandModule)
      .command(list as unknown as CommandModule)
      .command(signal('pause', 'Hold new trials (running ones finish)') as unknown as CommandModule)
      .command(signal('resume', 'Start new trials again') as unknown as CommandModule)
      .command(signal('cancel', 'Stop every running trial and its replicas; pending trials never start') as unknown as CommandModule)
      .command(add as unknown as CommandModule)
      .command(results as unknown as CommandModule)
      .demandCommand(1, 'Name a sweep sub-command; `dcign sweep --help` lists them.'),
  handler: () => undefined,
};
