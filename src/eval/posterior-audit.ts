// Posterior audit: is q(z|x), averaged over the data, close to the prior N(0, I)? Pure numerics over encoder outputs
// (means and log-variances) and over images decoded from prior samples.
// - KL per latent dimension: E_x KL(q(z_j|x) || N(0, 1)) = E_x 0.5 (mu^2 + sigma^2 - 1 - log sigma^2)
//   (Kingma & Welling 2014, "Auto-Encoding Variational Bayes", Appendix B).
// - Aggregate posterior q(z) = E_x q(z|x): mean E[mu], covariance Cov[mu] + E[diag sigma^2] (law of total covariance,
//   as in Kumar et al. 2018, "Variational Inference of Disentangled Latent Concepts from Unlabeled Observations", Eq. 6),
//   compared with N(0, I) by the KL of its moment-matched Gaussian, 0.5 (tr S + m'm - d - log det S). That is a LOWER
//   BOUND of KL(q(z) || N(0, I)), not the KL itself: for p = N(0, I) (an exponential family whose sufficient
//   statistics are the first two moments) KL(q || p) = KL(q || q_G) + KL(q_G || p) with q_G the Gaussian of q's mean
//   and covariance, and KL(q || q_G) >= 0 (the Pythagorean identity of information projection; Csiszar 1975). A
//   mixture of separated clusters at mean 0 and variance 1 scores 0 here while its KL is large.
// - Gaussian total correlation of that covariance: 0.5 (sum_j log S_jj - log det S) (Watanabe 1960's total correlation
//   of a Gaussian; zero iff the aggregate posterior's dimensions are uncorrelated).
// - Prior holes: how much of N(0, I) decodes to a blank or a broken image (Rosca et al. 2018, "Distribution Matching
//   in Variational Inference": mass the prior has and the aggregate posterior lacks decodes to poor samples). "Broken"
//   is a smear test for binary sprites; it is reported only where the dataset's own images pass it.

export interface PosteriorAudit {
  readonly samples: number;
  /** E_x KL(q(z_j|x) || N(0,1)) per latent, in nats. */
  readonly klPerLatent: number[];
  /** Aggregate posterior mean (per latent). */
  readonly mean: number[];
  /** Aggregate posterior covariance, row-major d x d. */
  readonly covariance: number[][];
  /** KL(N(mean, covariance) || N(0, I)) in nats: a lower bound of KL(q(z) || N(0, I)) (see the top of the file). */
  readonly gaussianKlLowerBound: number;
  /** Gaussian total correlation of the covariance, in nats. */
  readonly gaussianTc: number;
}

/** Audit from n rows of encoder means and log-variances (each row: one image's d latents). */
export function posteriorAudit(mu: readonly ArrayLike<number>[], logvar: readonly ArrayLike<number>[]): PosteriorAudit {
  const n = mu.length;
  if (n < 2 || logvar.length !== n) throw new Error(`posterior audit needs at least 2 rows of means and as many log-variances (got ${n} and ${logvar.length})`);
  const d = (mu[0] as ArrayLike<number>).length;
  const mean = new Array<number>(d).fill(0);
  const kl = new Array<number>(d).fill(0);
  const meanVar = new Array<number>(d).fill(0);
  for (let i = 0; i < n; i++) {
    const m = mu[i] as ArrayLike<number>;
    const lv = logvar[i] as ArrayLike<number>;
    for (let j = 0; j < d; j++) {
      const v = Math.exp(lv[j] as number);
      mean[j] = (mean[j] as number) + (m[j] as number) / n;
      meanVar[j] = (meanVar[j] as number) + v / n;
      kl[j] = (kl[j] as number) + (0.5 * ((m[j] as number) ** 2 + v - 1 - (lv[j] as number))) / n;
    }
  }
  const cov = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  for (let i = 0; i < n; i++) {
    const m = mu[i] as ArrayLike<number>;
    for (let a = 0; a < d; a++) {
      const da = (m[a] as number) - (mean[a] as number);
      const row = cov[a] as number[];
      for (let b = 0; b <= a; b++) row[b] = (row[b] as number) + (da * ((m[b] as number) - (mean[b] as number))) / n;
    }
  }
  for (let a = 0; a < d; a++) {
    const row = cov[a] as number[];
    row[a] = (row[a] as number) + (meanVar[a] as number);
    for (let b = 0; b < a; b++) (cov[b] as number[])[a] = row[b] as number;
  }
  const logDet = logDetSpd(cov);
  let trace = 0;
  let sumLogDiag = 0;
  for (let j = 0; j < d; j++) {
    const s = (cov[j] as number[])[j] as number;
    trace += s;
    sumLogDiag += Math.log(s);
  }
  const meanSq = mean.reduce((s, m) => s + m * m, 0);
  return {
    samples: n,
    klPerLatent: kl,
    mean,
    covariance: cov,
    gaussianKlLowerBound: 0.5 * (trace + meanSq - d - logDet),
    gaussianTc: 0.5 * (sumLogDiag - logDet),
  };
}

/** log det of a symmetric positive-definite matrix by its Cholesky factor. */
export function logDetSpd(a: readonly (readonly number[])[]): number {
  const d = a.length;
  const l = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  let logDet = 0;
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = (a[i] as number[])[j] as number;
      for (let k = 0; k < j; k++) s -= ((l[i] as number[])[k] as number) * ((l[j] as number[])[k] as number);
      if (i === j) {
        if (!(s > 0)) throw new Error(`covariance is not positive definite (pivot ${s} at latent ${i})`);
        (l[i] as number[])[i] = Math.sqrt(s);
        logDet += Math.log(s);
      } else {
        (l[i] as number[])[j] = s / ((l[j] as number[])[j] as number);
      }
    }
  }
  return logDet;
}

export interface PriorSampleCheck {
  readonly samples: number;
  /** Fraction of prior samples that decode to a flat image: nothing drawn (contrast below `minContrast`). */
  readonly blank: number;
  /**
   * Fraction that decode to a smear: most pixels that differ from the background are half-way grey, not a shape.
   * Absent where the test does not apply to the dataset (`brokenNotApplicable` says why).
   */
  readonly broken?: number;
  /** Why `broken` is absent: the dataset's own images fail the smear test (grey renders, photographs). */
  readonly brokenNotApplicable?: string;
  /** Fraction of the dataset's own images the smear test calls broken (what decides whether it applies). */
  readonly realBroken?: number;
}

/**
 * Above this fraction of the dataset's own images called broken, the smear test carries no information on that
 * dataset: it was built for binary sprites (a crisp shape on a flat background); grey renders of faces, with their
 * shading, are "mostly half-way grey" by construction (issue 33: 0.99-1.0 for every model on faces).
 */
export const MAX_REAL_BROKEN = 0.05;

/**
 * The prior-sample check fitted to the dataset: blank and broken fractions of the decoded prior samples, broken only
 * where the dataset's own images (`real`, same layout) pass the smear test (at most MAX_REAL_BROKEN of them broken).
 */
export function checkPriorSamplesFor(decoded: ArrayLike<number>, real: ArrayLike<number>, pixels: number, opts: PriorCheckOptions = {}): PriorSampleCheck {
  const prior = checkPriorSamples(decoded, pixels, opts);
  const realBroken = checkPriorSamples(real, pixels, opts).broken ?? NaN;
  if (realBroken <= MAX_REAL_BROKEN) return { ...prior, realBroken };
  const { broken: _unused, ...rest } = prior;
  return {
    ...rest,
    realBroken,
    brokenNotApplicable:
      `the smear test (built for binary sprites) calls ${(100 * realBroken).toFixed(0)}% of the dataset's own images broken ` +
      `(above ${100 * MAX_REAL_BROKEN}%), so on this dataset it says nothing about prior samples`,
  };
}

export interface PriorCheckOptions {
  /** Intensity range (max - min) below which an image is blank (default 0.25 of [0, 1]). */
  readonly minContrast?: number;
  /** Fraction of the foreground pixels at mid intensity above which an image is broken (default 0.5). */
  readonly maxMidFraction?: number;
}

/**
 * Classifies decoded images (values in [0, 1], `pixels` values each, channels averaged by the caller or not: every
 * value counts as a pixel). Background is the image's median; foreground pixels differ from it by over 20% of the
 * contrast; mid pixels by 20-80%. Thresholds are documented rather than learned: a crisp sprite has few mid pixels.
 */
export function checkPriorSamples(images: ArrayLike<number>, pixels: number, opts: PriorCheckOptions = {}): PriorSampleCheck {
  const minContrast = opts.minContrast ?? 0.25;
  const maxMid = opts.maxMidFraction ?? 0.5;
  const n = Math.floor(images.length / pixels);
  if (n < 1 || n * pixels !== images.length) throw new Error(`prior check: ${images.length} values are not whole images of ${pixels} values`);
  let blank = 0;
  let broken = 0;
  const img = new Float64Array(pixels);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < pixels; p++) img[p] = images[i * pixels + p] as number;
    const sorted = Float64Array.from(img).sort();
    const lo = sorted[0] as number;
    const hi = sorted[pixels - 1] as number;
    const contrast = hi - lo;
    if (contrast < minContrast) {
      blank += 1;
      continue;
    }
    const background = sorted[Math.floor(pixels / 2)] as number;
    let fg = 0;
    let mid = 0;
    for (let p = 0; p < pixels; p++) {
      const dev = Math.abs((img[p] as number) - background) / contrast;
      if (dev > 0.2) {
        fg += 1;
        if (dev < 0.8) mid += 1;
      }
    }
    if (fg > 0 && mid / fg > maxMid) broken += 1;
  }
  return { samples: n, blank: blank / n, broken: broken / n };
}
