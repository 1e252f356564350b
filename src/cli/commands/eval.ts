// `dcign eval <checkpoint> [--dataset NAME] --out DIR`: every disentanglement metric of a trained model (encoder means)
// plus a factor x latent mutual-information heatmap and a latent traversal grid. The handler imports the
// implementation (and TensorFlow) lazily.
import type { Argv, CommandModule } from 'yargs';

export interface EvalArgs {
  checkpoint: string;
  dataset?: string;
  out: string;
  seed: number;
  'num-train': number;
  'num-test': number;
  'skip-sampling': boolean;
  'traversal-steps': number;
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval <checkpoint>',
  describe: 'Score a trained model with the disentanglement metrics; write metrics.json, an MI heatmap and traversals',
  builder: (y) =>
    y
      .positional('checkpoint', { type: 'string', demandOption: true, describe: 'a checkpoint directory (or a run directory)' })
      .option('dataset', { type: 'string', describe: 'dataset to score on (default: the one the model was trained on)' })
      .option('out', { type: 'string', demandOption: true, describe: 'directory for metrics.json, mi-heatmap.png, traversals.png' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the evaluation samples (results are deterministic for it)' })
      .option('num-train', { type: 'number', default: 10000, describe: 'training points of every metric (BetaVAE and FactorVAE included)' })
      .option('num-test', { type: 'number', default: 5000, describe: 'test points of every metric (BetaVAE and FactorVAE included)' })
      .option('skip-sampling', { type: 'boolean', default: false, describe: 'skip the BetaVAE and FactorVAE scores' })
      .option('traversal-steps', { type: 'number', default: 9, describe: 'images per latent in the traversal grid' })
      .check((argv) => {
        if (!Number.isInteger(argv.seed) || argv.seed < 0) throw new Error(`--seed must be a non-negative integer, got ${argv.seed}`);
        for (const key of ['num-train', 'num-test'] as const) {
          const v = argv[key];
          if (!Number.isInteger(v) || v < 20) throw new Error(`--${key} must be an integer >= 20 (the histogram has 20 bins), got ${v}`);
        }
        const steps = argv['traversal-steps'];
        if (!Number.isInteger(steps) || steps < 2 || steps > 32) {
          throw new Error(`--traversal-steps must be an integer in [2, 32], got ${steps}`);
        }
        return true;
      }) as Argv<EvalArgs>,
  handler: async (argv) => {
    const { runEvalCommand } = await import('../../eval/cli.js');
    await runEvalCommand(argv.checkpoint, {
      dataset: argv.dataset,
      out: argv.out,
      seed: argv.seed,
      numTrain: argv['num-train'],
      numTest: argv['num-test'],
      skipSampling: argv['skip-sampling'],
      traversalSteps: argv['traversal-steps'],
    });
  },
};
