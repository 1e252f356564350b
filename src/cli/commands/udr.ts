// `dcign udr <sweep>`: Unsupervised Disentanglement Ranking of a finished sweep's trials within each configuration's
// seeds (Duan et al. 2020), logged as `udr` on every trial run. The handler imports the implementation (and
// TensorFlow) lazily.
import type { Argv, CommandModule } from 'yargs';

export interface UdrArgs {
  sweep: string;
  'tracking-uri'?: string;
  'num-examples': number;
  seed: number;
  correlation: 'lasso' | 'spearman';
  'kl-threshold': number;
  'skip-single-seed': boolean;
  log: boolean;
}

export const udrCommand: CommandModule<object, UdrArgs> = {
  command: 'udr <sweep>',
  describe: 'Rank the trials of a finished sweep by UDR (no ground-truth factors needed); log `udr` on each trial run',
  builder: (y) =>
    y
      .positional('sweep', { type: 'string', demandOption: true, describe: "the sweep's name (its MLflow experiment)" })
      .option('tracking-uri', { type: 'string', describe: 'MLflow server (default: env MLFLOW_TRACKING_URI, else the local stack in use, else http://127.0.0.1:5000)' })
      .option('num-examples', { type: 'number', default: 1000, describe: 'shared images every model encodes' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the shared image sample' })
      .option('correlation', { choices: ['lasso', 'spearman'] as const, default: 'lasso' as const, describe: 'how latents of two seeds are related' })
      .option('kl-threshold', { type: 'number', default: 0.01, describe: 'latents with a mean KL at or below this are not scored' })
      .option('skip-single-seed', { type: 'boolean', default: false, describe: 'leave configurations with one seed unscored instead of failing' })
      .option('log', { type: 'boolean', default: true, describe: 'log udr on the trial runs (--no-log: only print)' })
      .check((argv) => {
        const n = argv['num-examples'];
        if (!Number.isInteger(n) || n < 2) throw new Error(`--num-examples must be an integer >= 2, got ${n}`);
        if (!Number.isInteger(argv.seed) || argv.seed < 0) throw new Error(`--seed must be a non-negative integer, got ${argv.seed}`);
        const k = argv['kl-threshold'];
        if (!Number.isFinite(k) || k < 0) throw new Error(`--kl-threshold must be a number >= 0, got ${k}`);
        return true;
      }) as Argv<UdrArgs>,
  handler: async (argv) => {
    const { resolveEndpoints } = await import('../../stack/endpoints.js');
    const { runUdrCommand } = await import('../../eval/udr-cli.js');
    await runUdrCommand({
      sweep: argv.sweep,
      trackingUri: resolveEndpoints(argv['tracking-uri'] ? { mlflowUri: argv['tracking-uri'] } : {}).mlflowUri,
      numExamples: argv['num-examples'],
      seed: argv.seed,
      correlation: argv.correlation,
      klFilterThreshold: argv['kl-threshold'],
      singleSeed: argv['skip-single-seed'] ? 'skip' : 'error',
      log: argv.log,
    });
  },
};
