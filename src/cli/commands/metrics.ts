// `dcign metrics score <case.json>`: computes every metric a conformance case (the format of test/fixtures/conformance)
// defines and prints one JSON object keyed like the case's `metrics`, each with the output names of its
// `expected` (a sampling metric gives the value of one run). The handler imports the implementation lazily.
import type { Argv, CommandModule } from 'yargs';
import { CASE_METRICS } from '../../metrics/case-metrics.js';

export interface MetricsScoreArgs {
  case: string;
  seed: number;
  only?: string[];
}

const KNOWN: readonly string[] = CASE_METRICS;

export const metricsScoreCommand: CommandModule<object, MetricsScoreArgs> = {
  command: 'score <case>',
  describe: 'Score every metric of a conformance case and print one JSON object',
  builder: (y) =>
    y
      .positional('case', { type: 'string', demandOption: true, describe: 'a case file (JSON) in the conformance format' })
      .option('seed', {
        type: 'number',
        default: 0,
        describe: 'seed of the sampling metrics (BetaVAE, FactorVAE) and of the tree tie-breaking (as np.random.seed)',
      })
      .option('only', { type: 'string', array: true, describe: `score only these metrics (${KNOWN.join(', ')})` })
      .check((argv) => {
        if (!String(argv.case).toLowerCase().endsWith('.json')) throw new Error(`<case> must be a .json file, got '${argv.case}'`);
        if (!Number.isInteger(argv.seed) || argv.seed < 0 || argv.seed > 0xffffffff) {
          throw new Error(`--seed must be an integer in [0, 2**32 - 1], got ${argv.seed}`);
        }
        const unknown = (argv.only ?? []).filter((m) => !KNOWN.includes(m));
        if (unknown.length > 0) throw new Error(`--only: unknown metric(s) ${unknown.join(', ')}; known: ${KNOWN.join(', ')}`);
        return true;
      }) as Argv<MetricsScoreArgs>,
  handler: async (argv) => {
    const { readCase, scoreCase } = await import('../../metrics/case.js');
    const c = await readCase(argv.case);
    const scores = await scoreCase(c, argv.seed, argv.only);
    process.stdout.write(`${JSON.stringify(scores)}\n`);
  },
};

export const metricsCommand: CommandModule = {
  command: 'metrics',
  describe: 'Disentanglement metrics: score a conformance case',
  builder: (y) =>
    y.command(metricsScoreCommand as unknown as CommandModule).demandCommand(1, 'Name a metrics command: score.'),
  handler: () => {
    // Sub-commands do the work; yargs refuses a bare `dcign metrics` through demandCommand.
  },
};
