// InfoVAE / MMD-VAE: Zhao, Song & Ermon 2017, "InfoVAE: Information Maximizing Variational Autoencoders"
// (arXiv:1706.02262), Eq. 7 (negated, to minimise):
//   recon + (1 - alpha) * KL(q(z|x) || p(z)) + (alpha + lambda - 1) * MMD(q(z) || p(z))
// with the maximum mean discrepancy of Gretton et al. 2012 (unbiased U-statistic, Lemma 6) between the batch's codes
// and as many prior samples. Kernels: inverse multiquadratic k(x, y) = C / (C + ||x - y||^2) with C = 2 L (Tolstikhin
// et al. 2018, WAE, Sec. 4, for a unit-variance prior), or Gaussian RBF k(x, y) = exp(-||x - y||^2 / C).
import { tf, type Tensor } from './tf.js';

function sqDistances(a: Tensor, b: Tensor): Tensor {
  const aa = tf.sum(tf.square(a), 1, true);
  const bb = tf.transpose(tf.sum(tf.square(b), 1, true));
  return tf.relu(tf.sub(tf.add(aa, bb), tf.mul(tf.matMul(a, b, false, true), 2)));
}

function kernel(d2: Tensor, kind: 'imq' | 'rbf', c: number): Tensor {
  return kind === 'imq' ? tf.div(c, tf.add(d2, c)) : tf.exp(tf.div(d2, -c));
}

/** Unbiased MMD^2 between samples q [n, L] and p [n, L]. */
export function mmd(q: Tensor, p: Tensor, kind: 'imq' | 'rbf'): Tensor {
  const n = q.shape[0] as number;
  const L = q.shape[1] as number;
  if (n < 2) throw new Error('MMD needs at least 2 samples per batch');
  const c = 2 * L;
  const offDiag = tf.sub(1, tf.eye(n));
  const kqq = tf.div(tf.sum(tf.mul(kernel(sqDistances(q, q), kind, c), offDiag)), n * (n - 1));
  const kpp = tf.div(tf.sum(tf.mul(kernel(sqDistances(p, p), kind, c), offDiag)), n * (n - 1));
  const kqp = tf.div(tf.sum(kernel(sqDistances(q, p), kind, c)), n * n);
  return tf.sub(tf.add(kqq, kpp), tf.mul(kqp, 2));
}
