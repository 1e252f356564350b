// `dcign sweep <plan|start|status|list|pause|resume|retry|cancel|add|results|dashboard>`: one yargs module per sub-command;
// each handler lazily imports src/sweep/cli.ts so `dcign --help` stays fast and argument parsing is testable without Temporal.
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

interface PlanFlags {
  spec: string;
  maxTrials?: number;
  stepTimeMs?: number;
  measureSteps: number;
  format: 'table' | 'json';
}

const planFlags = <T>(y: Argv<T>): Argv<T & PlanFlags> =>
  y
    .positional('spec', { type: 'string', demandOption: true, describe: 'path to the sweep spec' })
    .option('max-trials', { type: 'number', describe: `confirm a sweep of more than ${100} trials: the most it may have` })
    .option('step-time-ms', { type: 'number', describe: 'ms per training step for the estimate (e.g. from `npm run bench:train` on a worker); skips measuring here' })
    .option('measure-steps', { type: 'number', default: 3, describe: 'training steps timed per model shape on this host for the estimate (0: no estimate)' })
    .option('format', { choices: ['table', 'json'] as const, default: 'table' as const })
    .check((argv) => {
      const a = argv as unknown as PlanFlags;
      if (a.maxTrials !== undefined && !(Number.isInteger(a.maxTrials) && a.maxTrials >= 1)) throw new Error(`--max-trials must be an integer >= 1, got ${a.maxTrials}`);
      if (a.stepTimeMs !== undefined && !(Number.isFinite(a.stepTimeMs) && a.stepTimeMs > 0)) throw new Error(`--step-time-ms must be a number > 0, got ${a.stepTimeMs}`);
      if (!(Number.isInteger(a.measureSteps) && a.measureSteps >= 0)) throw new Error(`--measure-steps must be an integer >= 0, got ${a.measureSteps}`);
      return true;
    }) as unknown as Argv<T & PlanFlags>;

const plan: CommandModule<Common, PlanFlags> = {
  command: 'plan <spec>',
  describe: 'Validate a sweep spec and print its trials, the slots they need and an estimate of GPU/CPU-hours; starts nothing',
  builder: (y) => planFlags(y),
  handler: async (a) => {
    await (await import('../../sweep/plan-report.js')).printPlan(a);
  },
};

const start: CommandModule<Common, Common & PlanFlags & { wait: boolean; dryRun: boolean }> = {
  command: 'start <spec>',
  describe: 'Validate a sweep spec (sweeps/*.yaml) and start it; prints the Temporal UI and MLflow links',
  builder: (y) =>
    planFlags(common(y))
      .option('wait', { type: 'boolean', default: false, describe: 'follow progress until the sweep ends, then print the results' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'print the plan (as `dcign sweep plan`) and start nothing' }) as unknown as Argv<
      Common & PlanFlags & { wait: boolean; dryRun: boolean }
    >,
  handler: async (a) => {
    if (a.dryRun) await (await import('../../sweep/plan-report.js')).printPlan(a);
    else await (await impl()).sweepStart(await inUse(a));
  },
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

const STOP_RUNNING = {
  type: 'boolean',
  default: false,
  describe: 'an ended sweep whose trials still run (terminated on the server): stop them and continue them from their newest checkpoints',
} as const;

const resume: CommandModule<Common, Common & { name: string; 'stop-running': boolean }> = {
  command: 'resume <name>',
  describe: 'Continue a paused sweep, or an ended one (completed trials are kept; the others continue from their newest checkpoints)',
  builder: (y) => common(y).positional('name', { type: 'string', demandOption: true }).option('stop-running', STOP_RUNNING),
  handler: async (a) => (await impl()).sweepResume({ ...(await inUse(a)), stopRunning: a['stop-running'] }),
};

const retry: CommandModule<Common, Common & { name: string; trials?: string[]; 'stop-running': boolean }> = {
  command: 'retry <name> [trials..]',
  describe: 'Run failed trials again from their newest checkpoints (the named trial keys, or every failed one)',
  builder: (y) =>
    common(y)
      .positional('name', { type: 'string', demandOption: true })
      .positional('trials', { type: 'string', array: true, describe: 'trial keys as `dcign sweep status` shows them, e.g. beta=4,seed=0' })
      .option('stop-running', STOP_RUNNING),
  handler: async (a) => (await impl()).sweepRetry({ ...(await inUse(a)), trials: a.trials ?? [], stopRunning: a['stop-running'] }),
};

const signal = (action: 'pause' | 'cancel', describe: string): CommandModule<Common, Common & { name: string }> => ({
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

const dashboard: CommandModule<Common, Common & { name: string; host: string; port: number; storage?: string }> = {
  command: 'dashboard <name>',
  describe: "optuna-dashboard on a search.optimize sweep's Optuna study (its own storage; loopback by default)",
  builder: (y) =>
    common(y)
      .positional('name', { type: 'string', demandOption: true })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address the dashboard listens on (loopback: only this machine)' })
      .option('port', { type: 'number', default: 8080 })
      .option('storage', { type: 'string', describe: "the study's RDB URL, when the recorded one hides a password" }),
  handler: async (a) => (await impl()).sweepDashboard(await inUse(a)),
};

export const sweepCommand: CommandModule = {
  command: 'sweep <command>',
  describe: 'Run and watch hyperparameter sweeps on Temporal',
  builder: (y) =>
    y
      .command(plan as unknown as CommandModule)
      .command(start as unknown as CommandModule)
      .command(status as unknown as CommandModule)
      .command(list as unknown as CommandModule)
      .command(signal('pause', 'Pause: running trials stop at their next step with a checkpoint and free their slots; no new ones start') as unknown as CommandModule)
      .command(resume as unknown as CommandModule)
      .command(retry as unknown as CommandModule)
      .command(signal('cancel', 'Stop every running trial and its replicas; pending trials never start') as unknown as CommandModule)
      .command(add as unknown as CommandModule)
      .command(results as unknown as CommandModule)
      .command(dashboard as unknown as CommandModule)
      .demandCommand(1, 'Name a sweep sub-command; `dcign sweep --help` lists them.'),
  handler: () => undefined,
};
