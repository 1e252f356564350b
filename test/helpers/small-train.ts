// The tiny trainer config the trainer and graph-step tests share: 32x32 bars, latent 3, 6 steps of batch 4.
import type { TrainConfigInput } from '../../src/train/config.js';

export const smallTrainConfig = (runDir: string, patch: TrainConfigInput = {}): TrainConfigInput => ({
  dataset: 'bars',
  model: { imageSize: 32, latentSize: 3, beta: 1 },
  steps: 6,
  batchSize: 4,
  learningRate: 1e-3,
  logEvery: 2,
  checkpointEvery: 0,
  evalBatches: 1,
  evalBatchSize: 4,
  runDir,
  ...patch,
});
