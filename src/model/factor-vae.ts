// FactorVAE: Kim & Mnih 2018, "Disentangling by Factorising" (ICML, arXiv:1802.05983). Eq. 2 (negated, to minimise):
//   recon + KL(q(z|x) || p(z)) + gamma * TC(z),   TC(z) = KL(q(z) || q_bar(z)),  q_bar(z) = prod_l q(z_l)
// TC by the density-ratio trick (Sec. 3): a discriminator D with two logits (class 0: z ~ q(z), class 1: z ~ q_bar(z))
// gives TC ~ E_q(z)[log D(z)_0 - log D(z)_1] = E_q(z)[logit_0 - logit_1] (disentanglement_lib: tc_loss). Samples of
// q_bar come from permuting each latent dimension independently across the batch (Algorithm 1, "permute_dims").
// D is trained alongside with its own optimiser to classify both, minimising (Algorithm 1)
//   -( 1/2 mean log D(z)_0 + 1/2 mean log D(permute_dims(z))_1 )
// Architecture and optimiser as disentanglement_lib's fc_discriminator and shared.gin: `layers` dense layers of
// `hidden` units with leaky ReLU (slope 0.2), then 2 logits; Adam(1e-4, beta1 0.5, beta2 0.9).
// We take log D as log-softmax (disentanglement_lib clips softmax to [1e-6, 1 - 1e-6] before the log; equal unless D
// saturates, where the clip would stop D's gradient).
//
// One objective, two parameter groups: the VAE's gradient must not move D, and D's must not move the encoder. Both come
// from one tf.variableGrads over `total + discriminatorLoss`: the VAE term sees D's weights through stopGradient (the
// gradient flows through D into z and the encoder, not into D), D's term sees z through stopGradient.
// Data parallel: D's parameters follow the VAE's in the model's parameter list, so its gradient is all-reduced with the
// rest in one flat vector, its Adam moments sit in the same flat state (src/train/adam.ts parameter groups) and its
// weights in every checkpoint. The permutation is drawn within each replica's local batch (as a single replica
// permutes within its batch): with R replicas, D sees R permutations of B/R codes instead of one of B.
import { makeVariables } from './architecture.js';
import { discriminatorSpecs, type ParamSpec } from './param-specs.js';
import { mixSeed, Rng } from '../random.js';
import { tf, type Tensor, type Variable } from './tf.js';

export const PERM_SALT = 0x7c3d;

/** Identity forward, zero gradient (TensorFlow's stop_gradient). */
export function stopGradient(x: Tensor): Tensor {
  const op = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const v = args[0] as Tensor;
    return { value: tf.clone(v), gradFunc: (dy: Tensor) => [tf.zerosLike(dy)] };
  });
  return op(x) as Tensor;
}

/**
 * Flat gather indices of permute_dims for a [B, L] code: entry (i, l) takes row perm_l(i) of column l, each perm_l an
 * independent Fisher-Yates shuffle from Rng(mixSeed(seed, PERM_SALT, key)). key: the batch's first global sample index,
 * so a resumed run draws the same permutations.
 */
export function permutationIndices(seed: number, key: number, batch: number, latentSize: number): Int32Array {
  const rng = new Rng(mixSeed(seed, PERM_SALT, key));
  const out = new Int32Array(batch * latentSize);
  const perm = new Array<number>(batch);
  for (let l = 0; l < latentSize; l++) {
    for (let i = 0; i < batch; i++) perm[i] = i;
    for (let i = batch - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = perm[i] as number;
      perm[i] = perm[j] as number;
      perm[j] = t;
    }
    for (let i = 0; i < batch; i++) out[i * latentSize + l] = (perm[i] as number) * latentSize + l;
  }
  return out;
}

/** permute_dims: z [B, L] with each column permuted by `indices` (permutationIndices as an int32 tensor). */
export function permuteDims(z: Tensor, indices: Tensor): Tensor {
  return tf.reshape(tf.gather(tf.reshape(z, [-1]), indices), z.shape);
}

export class Discriminator {
  readonly specs: readonly ParamSpec[];
  readonly params: readonly Variable[];

  constructor(latentSize: number, hidden: number, layers: number, seed: number) {
    this.specs = discriminatorSpecs(latentSize, hidden, layers);
    this.params = makeVariables(this.specs, seed);
  }

  /** Logits [B, 2] of z [B, L]; frozen: D's weights pass no gradient (the VAE's view of D). */
  logits(z: Tensor, frozen: boolean): Tensor {
    const w = frozen ? this.params.map((p) => stopGradient(p)) : this.params;
    let h = z;
    const n = w.length / 2 - 1;
    for (let i = 0; i < n; i++) h = tf.leakyRelu(tf.add(tf.matMul(h as tf.Tensor2D, w[2 * i] as tf.Tensor2D), w[2 * i + 1] as Tensor), 0.2);
    return tf.add(tf.matMul(h as tf.Tensor2D, w[2 * n] as tf.Tensor2D), w[2 * n + 1] as Tensor);
  }

  dispose(): void {
    for (const v of this.params) v.dispose();
  }
}

/** The TC estimate from D's logits [B, 2]: mean(logit_0 - logit_1). */
export function tcFromLogits(logits: Tensor): Tensor {
  const [l0, l1] = tf.split(logits, 2, 1) as [Tensor, Tensor];
  return tf.mean(tf.sub(l0, l1));
}

/** D's loss: -(1/2 mean log softmax(real)_0 + 1/2 mean log softmax(permuted)_1). */
export function discriminatorLoss(realLogits: Tensor, permutedLogits: Tensor): Tensor {
  const lr = tf.logSoftmax(realLogits);
  const lp = tf.logSoftmax(permutedLogits);
  const real0 = tf.mean(tf.slice(lr, [0, 0], [-1, 1]));
  const perm1 = tf.mean(tf.slice(lp, [0, 1], [-1, 1]));
  return tf.mul(tf.add(real0, perm1), -0.5);
}

/**
 * FactorVAE's terms for codes z [B, L]: the regulariser KL + gamma * TC (the VAE's view: gradient into the encoder,
 * not into D), the TC estimate, and D's loss (gradient into D only).
 */
export function factorVaeTerms(
  d: Discriminator,
  kl: Tensor,
  z: Tensor,
  permIndices: Tensor,
  gamma: number,
): { regulariser: Tensor; tc: Tensor; discriminatorLoss: Tensor } {
  const tc = tcFromLogits(d.logits(z, true));
  const zd = stopGradient(z);
  const b = z.shape[0] as number;
  // one pass of D over the codes and their permutation together
  const both = d.logits(tf.concat([zd, permuteDims(zd, permIndices)], 0), false);
  const disc = discriminatorLoss(tf.slice(both, [0, 0], [b, 2]), tf.slice(both, [b, 0], [b, 2]));
  return { regulariser: tf.add(kl, tf.mul(tc, gamma)), tc, discriminatorLoss: disc };
}
