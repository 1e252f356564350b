// DCIGN's training condition, measured on a trained model (Kulkarni et al. 2015, Sec. 3.1: in a batch where one
// factor varies, every latent but that factor's is clamped to the batch, so the factor's variation must pass through
// its own latents). For groups of images that differ in one factor only (the others fixed at random values), the
// squared error of the decoded encoder means with
//   a: every latent free, b: only the factor's assigned latents free (the rest at the group's mean), c: none free,
// and the fraction of what clamping costs that the assigned latents win back, (c - b) / (c - a): 1 when they carry
// the factor's variation, 0 when they carry none of it. It also says how much of the variation the model
// reconstructs at all, 1 - a / c relative to a decoded group mean: a factor the whole model ignores (a small pixel
// effect against the reconstruction error) cannot be carried by any latent. Grid datasets only.
import type { FactorDataset } from '../data/types.js';
import { Rng } from '../random.js';
import { decoderMean } from '../model/losses.js';
import { tf } from '../model/tf.js';
import type { VaeModel } from '../model/vae.js';

export interface FactorRecovery {
  readonly factor: string;
  readonly latents: readonly number[];
  /** Mean squared error per image: all latents free, only the assigned ones, none. */
  readonly allFree: number;
  readonly assignedFree: number;
  readonly noneFree: number;
  /**
   * (noneFree - assignedFree) / (noneFree - allFree); NaN when every latent free reconstructs the groups no better
   * than their mean code (nothing of the factor is modelled, so nothing is there to recover).
   */
  readonly recovered: number;
  /** 1 - allFree / noneFree: how much of the group's variation the model reconstructs at all. */
  readonly modelled: number;
}

/**
 * Recovery of every assigned factor with more than one value, over `groups` sibling groups each (all of the factor's
 * values, the other factors drawn with `seed`). `assignment[k]` lists the latents of factor k.
 */
export function dcignRecovery(model: VaeModel, dataset: FactorDataset, assignment: readonly (readonly number[])[], seed: number, groups = 30): FactorRecovery[] {
  if (dataset.list !== undefined) return []; // a list of images has no complete sibling groups to draw
  const { imageSize: s, channels: c } = dataset;
  const L = model.config.latentSize;
  const sizes = dataset.factors.map((f) => f.size);
  const rng = new Rng(seed);
  const out: FactorRecovery[] = [];
  dataset.factors.forEach((f, k) => {
    const latents = assignment[k] ?? [];
    if (f.size < 2 || latents.length === 0) return;
    const mask = new Float32Array(L);
    for (const l of latents) mask[l] = 1;
    let a = 0;
    let b = 0;
    let none = 0;
    for (let g = 0; g < groups; g++) {
      const base = sizes.map((n) => rng.int(n));
      const images = new Float32Array(f.size * s * s * c);
      for (let v = 0; v < f.size; v++) {
        const fi = [...base];
        fi[k] = v;
        dataset.render(fi, images, v * s * s * c);
      }
      const errs = tf.tidy(() => {
        const x = tf.tensor4d(images, [f.size, s, s, c]);
        const mu = model.encodeMean(x);
        const mean = tf.mean(mu, 0, true);
        const m = tf.tensor2d(mask, [1, L]);
        const err = (z: tf.Tensor): tf.Tensor => tf.sum(tf.square(tf.sub(decoderMean(model.net.decode(z), model.config.decoder), x)));
        return tf.stack([err(mu), err(tf.add(tf.mul(mu, m), tf.mul(mean, tf.sub(1, m)))), err(tf.tile(mean, [f.size, 1]))]);
      });
      const [ea, eb, ec] = errs.dataSync();
      errs.dispose();
      a += ea as number;
      b += eb as number;
      none += ec as number;
    }
    const per = groups * f.size;
    const gap = none - a;
    out.push({
      factor: f.name,
      latents,
      allFree: a / per,
      assignedFree: b / per,
      noneFree: none / per,
      recovered: gap > 1e-9 * none ? (none - b) / gap : NaN,
      modelled: none > 0 ? 1 - a / none : 0,
    });
  });
  return out;
}
