// DIP-VAE: Kumar, Sattigeri & Balakrishnan 2018, "Variational Inference of Disentangled Latent Concepts from
// Unlabeled Observations" (ICLR, arXiv:1711.00848). The VAE objective plus a penalty that pushes a covariance of the
// inferred codes towards the identity (Eq. 6 and 7; disentanglement_lib's DIPVAE):
//   recon + KL + lambda_od * sum_{i != j} C_ij^2 + lambda_d * sum_i (C_ii - 1)^2
//   DIP-VAE-I  (Eq. 6): C = Cov_p(x)[mu(x)]                                   (covariance of the encoder means)
//   DIP-VAE-II (Eq. 7): C = E_p(x)[diag(exp(logvar(x)))] + Cov_p(x)[mu(x)]    (covariance of q(z) itself)
// Cov over the batch as E[mu mu^T] - E[mu] E[mu]^T (the biased estimate, divided by B). lambda_d = lambdaDFactor *
// lambda_od as disentanglement_lib parameterises it (10 for -I, 1 for -II in its study).
import { tf, type Tensor } from './tf.js';

/** Cov of the rows of mu [B, L] over the batch, E[mu mu^T] - E[mu] E[mu]^T: [L, L]. */
export function covariance(mu: Tensor): Tensor {
  const b = mu.shape[0] as number;
  const mean = tf.mean(mu, 0, true); // [1, L]
  return tf.sub(tf.div(tf.matMul(mu, mu, true, false), b), tf.matMul(mean, mean, true, false));
}

/** lambdaOd * sum of squared off-diagonal entries + lambdaD * sum of squared (diagonal - 1). */
export function dipPenalty(cov: Tensor, lambdaOd: number, lambdaD: number): Tensor {
  const n = cov.shape[0] as number;
  const eye = tf.eye(n);
  const diag = tf.sum(tf.mul(cov, eye), 1); // [L]
  const offDiag = tf.mul(cov, tf.sub(1, eye));
  return tf.add(tf.mul(tf.sum(tf.square(offDiag)), lambdaOd), tf.mul(tf.sum(tf.square(tf.sub(diag, 1))), lambdaD));
}

/** The covariance each DIP-VAE type penalises. */
export function dipCovariance(type: 'i' | 'ii', mu: Tensor, logvar: Tensor): Tensor {
  const covMu = covariance(mu);
  if (type === 'i') return covMu;
  // diag(v) as eye * v (tfjs has no gradient for Diag)
  return tf.add(covMu, tf.mul(tf.eye(covMu.shape[0] as number), tf.mean(tf.exp(logvar), 0)));
}

/** DIP-VAE regulariser as it enters the loss: KL + penalty. Returns both. */
export function dipRegulariser(
  kl: Tensor,
  mu: Tensor,
  logvar: Tensor,
  type: 'i' | 'ii',
  lambdaOd: number,
  lambdaDFactor: number,
): { regulariser: Tensor; penalty: Tensor } {
  const penalty = dipPenalty(dipCovariance(type, mu, logvar), lambdaOd, lambdaDFactor * lambdaOd);
  return { regulariser: tf.add(kl, penalty), penalty };
}
