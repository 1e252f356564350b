// Held-out ELBO (Kingma & Welling 2014, Eq. 3): mean over a fixed evaluation set of
//   -recon - KL(q(z|x) || p(z)), in nats per image,
// whatever the training variant's own objective. The evaluation set is drawn i.i.d. from the dataset with a seed
// apart from the training stream's (mixSeed(seed, EVAL_SALT)), and single-sample noise tied to the sample index.
import type { FactorDataset } from '../data/types.js';
import { createSampler } from '../data/index.js';
import { mixSeed } from '../random.js';
import { tf } from '../model/tf.js';
import { EPS_SALT, noiseFor, type VaeModel } from '../model/vae.js';
import { elboParts, gaussianSigma } from '../model/losses.js';
import { HELDOUT_ELBO } from '../contract/types.js';

export const EVAL_SALT = 0xe7a1;

export interface EvalResult {
  readonly elbo: number;
  readonly recon: number;
  readonly kl: number;
  readonly images: number;
}

export function evaluateElbo(model: VaeModel, dataset: FactorDataset, seed: number, batches: number, batchSize: number): EvalResult {
  const evalSeed = mixSeed(seed, EVAL_SALT);
  const sampler = createSampler(dataset, { kind: 'iid', batchSize, seed: evalSeed });
  const { imageSize, latentSize } = model.config;
  const channels = model.net.arch.channels;
  let recon = 0;
  let kl = 0;
  for (let b = 0; b < batches; b++) {
    const batch = sampler.next();
    const sums = tf.tidy(() => {
      const x = tf.tensor4d(batch.images, [batch.batchSize, imageSize, imageSize, channels]);
      const eps = tf.tensor2d(noiseFor(evalSeed, EPS_SALT, batch.globalIndices, latentSize), [batch.batchSize, latentSize]);
      const { mu, logvar } = model.net.encode(x);
      const z = tf.add(mu, tf.mul(tf.exp(tf.mul(logvar, 0.5)), eps));
      const parts = elboParts(x, model.net.decode(z), mu, logvar, model.config.decoder, gaussianSigma(model.config));
      return tf.stack([parts.recon, parts.kl]);
    });
    const [r, k] = sums.dataSync();
    sums.dispose();
    recon += r as number;
    kl += k as number;
  }
  const n = Math.max(1, batches);
  return { elbo: -(recon + kl) / n, recon: recon / n, kl: kl / n, images: batches * batchSize };
}

/**
 * The held-out figures as scalars of a training log step. Named apart from the training losses (recon, kl) and from
 * what the evaluate activity logs; `elbo` is the key a sweep's `objective: elbo` reads.
 */
export function heldOutScalars(e: EvalResult): Record<string, number> {
  return { [HELDOUT_ELBO]: e.elbo, heldout_recon: e.recon, heldout_kl: e.kl };
}
