// The evidence lower bound, once; variants change only their regulariser (variants.ts).
//
// Kingma & Welling 2014, "Auto-Encoding Variational Bayes" (ICLR):
//   ELBO(x) = E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z))                                          (Eq. 3)
//   KL(N(mu, sigma^2) || N(0, 1)) per dimension = 1/2 (mu^2 + sigma^2 - 1 - log sigma^2)            (Appendix B)
// Higgins et al. 2017, "beta-VAE" (ICLR), Eq. 4: L = E_q[log p(x|z)] - beta * KL(q(z|x) || p(z)).
// We minimise the negative: total = recon + beta * KL, with recon = -log p(x|z) summed over pixels and both terms
// averaged over the batch (as disentanglement_lib and the PyTorch reference do).
// The Gaussian decoder's recon is disentanglement_lib's `l2_loss` (losses.py: reduce_sum((x - sigmoid(out))^2) over
// pixels): -log N(x; sigmoid(out), sigma^2) without its constant, with sigma^2 = 1/2 by default, so beta means what it
// means there (half of it would amount to doubling beta).
import { sigmoidCrossEntropySum } from './native-ops.js';
import { tf, type Tensor } from './tf.js';
import { DLIB_L2_SIGMA, type DecoderKind } from './param-specs.js';

export { DLIB_L2_SIGMA, gaussianSigma } from './param-specs.js';

/** Reparameterisation trick (Kingma & Welling 2014, Sec. 2.4): z = mu + exp(logvar / 2) * eps, eps ~ N(0, I). */
export function reparameterise(mu: Tensor, logvar: Tensor, eps: Tensor): Tensor {
  return tf.add(mu, tf.mul(tf.exp(tf.mul(logvar, 0.5)), eps));
}

/**
 * The mean of p(x|z) for decoder output `out`: the image that reconstructions and traversals show, and the centre of
 * the Gaussian likelihood below. Both likelihoods put it at sigmoid(out) (Bernoulli: `out` are logits), so images are
 * what training fits and stay in [0, 1]. A switch, so that a new likelihood must say where its mean is.
 * Returns a new tensor; the caller disposes it or tidies.
 */
export function decoderMean(out: Tensor, decoder: DecoderKind): Tensor {
  switch (decoder) {
    case 'bernoulli':
    case 'gaussian':
      return tf.sigmoid(out);
  }
}

/**
 * -log p(x|z) summed over pixels, mean over the batch. `out` is the decoder output [B, H, W, C].
 *  - bernoulli: `out` are logits; sigmoid cross-entropy softplus(l) - l x (= max(l, 0) - l x + log(1 + exp(-|l|)),
 *    the stable form), one native kernel with its own gradient (native-ops.ts).
 *  - gaussian: mean = sigmoid(out), fixed standard deviation `sigma` (default DLIB_L2_SIGMA):
 *      1/2 ((x - mean) / sigma)^2 per pixel, i.e. -log N(x; mean, sigma^2) less its constant log sigma + 1/2 log(2 pi)
 *    per pixel, which disentanglement_lib's l2_loss leaves out too (it moves no gradient).
 */
export function reconstructionLoss(x: Tensor, out: Tensor, decoder: DecoderKind, sigma = DLIB_L2_SIGMA): Tensor {
  const b = x.shape[0] as number;
  if (decoder === 'bernoulli') return tf.div(sigmoidCrossEntropySum(out, x), b);
  const d = tf.div(tf.sub(x, decoderMean(out, decoder)), sigma);
  return tf.div(tf.mul(tf.sum(tf.square(d)), 0.5), b);
}

/** KL(q(z|x) || N(0, I)) per latent dimension, mean over the batch: [L]. */
export function klPerDim(mu: Tensor, logvar: Tensor): Tensor {
  const terms = tf.mul(tf.sub(tf.add(tf.square(mu), tf.exp(logvar)), tf.add(logvar, 1)), 0.5);
  return tf.mean(terms, 0);
}

export interface ElboParts {
  /** -log p(x|z), summed over pixels, mean over batch (scalar). */
  readonly recon: Tensor;
  /** KL per latent dimension [L], mean over batch. */
  readonly klPerDim: Tensor;
  /** Sum of klPerDim (scalar). */
  readonly kl: Tensor;
}

export function elboParts(x: Tensor, out: Tensor, mu: Tensor, logvar: Tensor, decoder: DecoderKind, sigma = DLIB_L2_SIGMA): ElboParts {
  const recon = reconstructionLoss(x, out, decoder, sigma);
  const perDim = klPerDim(mu, logvar);
  return { recon, klPerDim: perDim, kl: tf.sum(perDim) };
}

/** beta-VAE objective, Higgins et al. 2017 Eq. 4 (negated): total = recon + beta * KL. */
export function betaVaeLoss(parts: ElboParts, beta: number): Tensor {
  return tf.add(parts.recon, tf.mul(parts.kl, beta));
}
