// Checkpoints with a known decoder, for tests of what evaluation draws and measures.
import { openDataset } from '../../src/data/index.js';
import { VaeModel } from '../../src/model/vae.js';
import { CHECKPOINT_FORMAT, checksumOf, saveCheckpoint } from '../../src/train/checkpoint.js';
import { resolveTrainConfig } from '../../src/train/config.js';

/** A checkpoint whose decoder outputs `bias` at every pixel: last transposed-conv kernel zero, its bias `bias`. */
export async function constantDecoderCheckpoint(dir: string, decoder: 'bernoulli' | 'gaussian', bias: number, latentSize = 2): Promise<string> {
  const cfg = resolveTrainConfig({
    dataset: 'dsprites-small',
    model: { imageSize: 32, latentSize, decoder },
    runDir: dir,
  });
  const dataset = openDataset(cfg.dataset, { imageSize: 32 });
  const model = new VaeModel(cfg.model, 0, { factors: dataset.factors, channels: dataset.channels });
  try {
    const params = model.net.readFlat();
    const [kernel, biasVar] = model.net.params.slice(-2);
    const biasStart = params.length - (biasVar?.size ?? 0);
    params.fill(0, biasStart - (kernel?.size ?? 0), biasStart);
    params.fill(bias, biasStart);
    const specs = model.net.params.map((v) => ({ name: v.name, shape: v.shape }));
    return await saveCheckpoint(dir, {
      state: { format: CHECKPOINT_FORMAT, step: 1, adamT: 1, sampler: {}, params: specs, checksum: checksumOf(params) },
      config: cfg,
      params,
      adamM: new Float32Array(params.length),
      adamV: new Float32Array(params.length),
    });
  } finally {
    model.dispose();
  }
}
