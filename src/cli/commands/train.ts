// `dcign train`: one model, locally, no Temporal (or R data-parallel replica processes on this machine).
// Validation of flag values is the config's (messages name the field); the handler imports the trainer lazily.
import type { Argv, CommandModule } from 'yargs';

interface TrainArgs {
  dataset?: string;
  model?: string;
  beta?: number;
  latent?: number;
  steps?: number;
  'batch-size'?: number;
  lr?: number;
  seed?: number;
  'image-size'?: number;
  'encoder-kernels'?: string;
  architecture?: string;
  decoder?: string;
  'clip-norm'?: number;
  step?: string;
  compression?: string;
  'log-every'?: number;
  'run-dir'?: string;
  'checkpoint-every'?: number;
  resume?: string;
  config?: string;
  replicas: number;
  json: boolean;
  mlflow?: boolean;
  experiment: string;
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'Train one model locally: progress, checkpoints and summary.json in a run folder',
  builder: (y) =>
    (y as Argv)
      .option('dataset', { type: 'string', describe: 'dsprites (default), dsprites-small, scenes, faces, shapes3d, npz:<path>, images:<folder>' })
      .option('model', {
        type: 'string',
        describe: 'beta-vae (default), annealed-vae, dcign, info-vae, factor-vae, beta-tcvae, dip-vae-i, dip-vae-ii',
      })
      .option('architecture', { type: 'string', describe: "'standard' (default), 'residual' or 'attention'" })
      .option('beta', { type: 'number', describe: 'KL weight (default 4; 1 = plain VAE)' })
      .option('latent', { type: 'number', describe: 'latent size (default 10)' })
      .option('steps', { type: 'number', describe: 'optimiser steps (default 300000)' })
      .option('batch-size', { type: 'number', describe: 'global batch size (default 64)' })
      .option('lr', { type: 'number', describe: 'Adam learning rate (default 1e-4)' })
      .option('seed', { type: 'number', describe: 'seed for weights, batches and noise (default 0)' })
      .option('image-size', { type: 'number', describe: '32 or 64 (default 64; 32 for dsprites-small)' })
      .option('encoder-kernels', { type: 'string', describe: "'higgins' (4,4,4,4, default) or 'dlib' (4,4,2,2)" })
      .option('decoder', { type: 'string', describe: "'bernoulli' (default) or 'gaussian'" })
      .option('clip-norm', { type: 'number', describe: 'global gradient-norm clipping (default off)' })
      .option('step', {
        type: 'string',
        choices: ['graph', 'eager'],
        describe: "'graph' (default: one TensorFlow graph run per step where the model has one, else eager) or 'eager'",
      })
      .option('compression', {
        type: 'string',
        describe: "with --replicas: gradients on the wire as 'none' (float32, default), 'fp16' or 'bf16' (half the bytes, sums in float32)",
      })
      .option('log-every', { type: 'number', describe: 'steps between loss read-backs (default 100)' })
      .option('run-dir', { type: 'string', describe: 'run folder (default .dcign/runs/<dataset>-<model>-...)' })
      .option('checkpoint-every', { type: 'number', describe: 'steps between checkpoints (default 10000; 0 = end only)' })
      .option('config', {
        type: 'string',
        describe: 'run config file: the dataset, model and train sections of a sweep spec, for one run (flags override it)',
      })
      .option('resume', { type: 'string', describe: 'run folder or checkpoint to continue from (its config; flags override)' })
      .option('mlflow', { type: 'boolean', describe: 'log to MLflow (default: when MLFLOW_TRACKING_URI is set or the local server is up; --no-mlflow: never)' })
      .option('experiment', { type: 'string', default: 'dcign-train', describe: 'MLflow experiment name' })
      .option('replicas', { type: 'number', default: 1, describe: 'data-parallel replica processes on this machine' })
      .option('json', { type: 'boolean', default: false, describe: 'JSON lines even on a terminal' })
      .check((argv) => {
        if (!Number.isInteger(argv.replicas) || argv.replicas < 1) throw new Error(`--replicas must be a positive integer, got ${argv.replicas}`);
        return true;
      }) as Argv<TrainArgs>,
  handler: async (argv) => {
    const [{ runTrainCommand }, { resolveEndpoints }] = await Promise.all([import('../../train/cli.js'), import('../../stack/endpoints.js')]);
    await runTrainCommand({
      localMlflowUri: resolveEndpoints().mlflowUri,
      dataset: argv.dataset,
      mlflow: argv.mlflow,
      experiment: argv.experiment,
      model: argv.model,
      beta: argv.beta,
      latent: argv.latent,
      steps: argv.steps,
      batchSize: argv['batch-size'],
      lr: argv.lr,
      seed: argv.seed,
      imageSize: argv['image-size'],
      encoderKernels: argv['encoder-kernels'],
      architecture: argv.architecture,
      decoder: argv.decoder,
      clipNorm: argv['clip-norm'],
      stepMode: argv.step,
      compression: argv.compression,
      logEvery: argv['log-every'],
      runDir: argv['run-dir'],
      checkpointEvery: argv['checkpoint-every'],
      resume: argv.resume,
      config: argv.config,
      replicas: argv.replicas,
      json: argv.json,
    });
  },
};
