// beta-TCVAE: Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of Disentanglement in Variational Autoencoders"
// (NeurIPS, arXiv:1802.04942). Eq. 4 splits the aggregate KL into index-code MI, total correlation and dimension-wise
// KL; with alpha = gamma = 1 in Eq. 4's weights the objective is the ELBO minus (beta - 1) * TC (as disentanglement_lib's
// BetaTCVAE), so we minimise
//   recon + KL + (beta - 1) * TC(z),   TC(z) = KL(q(z) || prod_l q(z_l)).
// TC by minibatch-weighted sampling (Sec. 3.1, Eq. S6 of the supplement): for the batch's samples z_j,
//   log q(z_j)    ~ logsumexp_i  sum_l log q(z_jl | x_i)          - log(N M)
//   log q(z_jl)   ~ logsumexp_i  log q(z_jl | x_i)                - log(N M)
//   TC            ~ mean_j [ log q(z_j) - sum_l log q(z_jl) ]
// with q(z_l | x_i) = N(mu_il, exp(logvar_il)). The log(N M) terms add the constant (L - 1) log(N M), which changes
// no gradient; like disentanglement_lib's `total_correlation` we leave it out, so the figure logged as `tc` is the
// estimate up to that constant (it can be negative).
import { tf, type Tensor } from './tf.js';

/** log N(z; mean, exp(logvar)) elementwise (broadcasting). */
export function gaussianLogDensity(z: Tensor, mean: Tensor, logvar: Tensor): Tensor {
  const d = tf.sub(z, mean);
  return tf.mul(tf.add(tf.add(tf.mul(tf.square(d), tf.exp(tf.neg(logvar))), logvar), Math.log(2 * Math.PI)), -0.5);
}

/** Minibatch-weighted-sampling total correlation of z [B, L] under q(z|x_i) = N(mu_i, exp(logvar_i)); scalar. */
export function totalCorrelation(z: Tensor, mu: Tensor, logvar: Tensor): Tensor {
  // [j, i, l]: log q(z_jl | x_i)
  const logq = gaussianLogDensity(tf.expandDims(z, 1), tf.expandDims(mu, 0), tf.expandDims(logvar, 0));
  const logQz = tf.logSumExp(tf.sum(logq, 2), 1); // [B]
  const logQzProduct = tf.sum(tf.logSumExp(logq, 1), 1); // [B]
  return tf.mean(tf.sub(logQz, logQzProduct));
}

/** The beta-TCVAE regulariser as it enters the loss: KL + (beta - 1) * TC. Returns [regulariser, tc]. */
export function betaTcRegulariser(kl: Tensor, z: Tensor, mu: Tensor, logvar: Tensor, beta: number): { regulariser: Tensor; tc: Tensor } {
  const tc = totalCorrelation(z, mu, logvar);
  return { regulariser: tf.add(kl, tf.mul(tc, beta - 1)), tc };
}
