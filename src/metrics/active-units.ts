// Active units and per-dimension KL of a Gaussian encoder.
// Active units after "Importance Weighted Autoencoders" (Burda, Grosse & Salakhutdinov, 2016,
// https://arxiv.org/abs/1509.00519): a latent u is active when Cov_x(E_q[u|x]) exceeds 0.01. The KL per dimension is
// the closed form of KL(N(mu, exp(logvar)) || N(0, 1)) of the VAE (Kingma & Welling 2014, Appendix B), averaged over
// samples; it shows which latents carry information.
import { codeColumns, MetricInputError, type Rows } from './utils.js';

/** Variance of each latent's mean over the samples (population variance) and which exceed the threshold. */
export function activeUnits(mu: Rows, threshold = 0.01): { count: number; active: boolean[]; variances: number[] } {
  const cols = codeColumns(mu, 'active units mu');
  const variances = cols.map((c) => {
    let m = 0;
    for (let i = 0; i < c.length; i++) m += c[i] as number;
    m /= c.length;
    let v = 0;
    for (let i = 0; i < c.length; i++) v += ((c[i] as number) - m) ** 2;
    return v / c.length;
  });
  const active = variances.map((v) => v > threshold);
  return { count: active.filter(Boolean).length, active, variances };
}

/** Mean over samples of 0.5 (mu^2 + exp(logvar) - logvar - 1), per latent dimension (nats). */
export function klPerDimension(mu: Rows, logvar: Rows): number[] {
  if (mu.length !== logvar.length) {
    throw new MetricInputError(`KL: mu has ${mu.length} rows but logvar has ${logvar.length}`);
  }
  const m = codeColumns(mu, 'KL mu');
  const lv = codeColumns(logvar, 'KL logvar');
  if (m.length !== lv.length) throw new MetricInputError(`KL: mu has ${m.length} dims but logvar has ${lv.length}`);
  return m.map((c, j) => {
    const l = lv[j] as Float64Array;
    let s = 0;
    for (let i = 0; i < c.length; i++) {
      const a = c[i] as number;
      const b = l[i] as number;
      s += 0.5 * (a * a + Math.exp(b) - b - 1);
    }
    return s / c.length;
  });
}
