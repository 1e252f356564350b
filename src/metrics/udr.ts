// Unsupervised Disentanglement Ranking (UDR).
// Based on "Unsupervised Model Selection for Variational Disentangled Representation Learning" (Duan, Matthey,
// Saraiva, Watters, Burgess, Lerchner & Higgins, ICLR 2020, https://arxiv.org/abs/1905.12614), Section 3; ported from
// disentanglement_lib `evaluation/udr/metrics/udr.py` (`compute_udr_sklearn`).
//
// Models of one configuration that differ only in their seed should agree on a disentangled representation (up to
// permutation and sign) and disagree on entangled ones. For each ordered pair (i, j) a similarity matrix R between the
// latents of i and of j (absolute Spearman correlations, or absolute Lasso weights predicting j from i) is scored by
// the paper's pairwise score
//     UDR_ij = 1/(d_a + d_b) [ sum_b r_b^2 I_KL(b) / sum_a R(a, b) + sum_a r_a^2 I_KL(a) / sum_b R(a, b) ]
// with r_a = max_b R(a, b), r_b = max_a R(a, b), and I_KL(a) = 1 for latents whose mean KL exceeds a threshold.
// disentanglement_lib (and so this file) applies I_KL by dropping the other latents' rows and columns and averages
// the row and column terms separately: (mean_b r_b^2 / sum_a R + mean_a r_a^2 / sum_b R) / 2. A model's UDR is the
// median of UDR_ji over the other models j.
import { fitLasso } from './lasso.js';
import { codeColumns, MetricInputError, type Rows } from './utils.js';

export type UdrCorrelation = 'lasso' | 'spearman';

/** One model's sample: latent means of the shared images (N rows of D) and the mean KL of each latent. */
export interface UdrModelSample {
  readonly codes: Rows;
  readonly kl: ArrayLike<number>;
}

export interface UdrOptions {
  /** How latents of two models are related (disentanglement_lib default: lasso). */
  readonly correlation?: UdrCorrelation;
  /** Score only latents whose KL exceeds klFilterThreshold (default true). */
  readonly filterLowKl?: boolean;
  readonly klFilterThreshold?: number;
  /** Lasso penalty (disentanglement_lib: 0.1). */
  readonly lassoAlpha?: number;
}

export interface UdrResult {
  /** UDR of each model: the median of its pairwise scores. */
  readonly modelScores: number[];
  /** pairwise[i][j]: UDR_ij (0 on the diagonal, as disentanglement_lib leaves it). */
  readonly pairwise: number[][];
  /** correlations[i][j][a][b]: R between latent a of model i and latent b of model j (NaN where undefined). */
  readonly correlations: number[][][][];
}

/** Mean over latents of max^2 / sum along one axis; a latent whose line holds NaN or sums to 0 counts 0. */
function strengthAlong(corr: readonly (readonly number[])[], byColumn: boolean): number {
  const rows = corr.length;
  const cols = (corr[0] as readonly number[]).length;
  const outer = byColumn ? cols : rows;
  const inner = byColumn ? rows : cols;
  let total = 0;
  for (let o = 0; o < outer; o++) {
    let max = -Infinity;
    let sum = 0;
    for (let k = 0; k < inner; k++) {
      const v = byColumn ? ((corr[k] as readonly number[])[o] as number) : ((corr[o] as readonly number[])[k] as number);
      // numpy's max and sum propagate NaN, and nan_to_num then turns the ratio into 0.
      max = Number.isNaN(v) || Number.isNaN(max) ? NaN : Math.max(max, v);
      sum += v;
    }
    const ratio = (max * max) / sum;
    total += Number.isNaN(ratio) ? 0 : ratio;
  }
  return total / outer;
}

/**
 * disentanglement_lib `relative_strength_disentanglement`: the mean over columns and over rows of max^2 / sum of a
 * non-negative similarity matrix, averaged. 1 for a permutation matrix; lower when a latent relates to several.
 */
export function relativeStrengthDisentanglement(corr: readonly (readonly number[])[]): number {
  if (corr.length === 0 || (corr[0] as readonly number[]).length === 0) {
    throw new MetricInputError('UDR: the similarity matrix is empty (no latent of one of the two models passed the KL filter)');
  }
  return (strengthAlong(corr, true) + strengthAlong(corr, false)) / 2;
}

/** Ranks 1..n with ties given their average rank (scipy `rankdata(method='average')`). */
export function averageRanks(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (x[a] as number) - (x[b] as number));
  const ranks = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && x[order[j + 1] as number] === x[order[i] as number]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k] as number] = r;
    i = j + 1;
  }
  return ranks;
}

function pearson(a: Float64Array, b: Float64Array): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] as number;
    mb += b[i] as number;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = (a[i] as number) - ma;
    const db = (b[i] as number) - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return Math.max(-1, Math.min(1, sab / Math.sqrt(saa * sbb)));
}

function isConstant(x: ArrayLike<number>): boolean {
  for (let i = 1; i < x.length; i++) if (x[i] !== x[0]) return false;
  return true;
}

/**
 * disentanglement_lib `spearman_correlation_conv`: |Spearman rho| between every latent a of the first model (rows)
 * and every latent b of the second (columns); NaN where either latent is constant (scipy's answer).
 */
export function spearmanCorrelationMatrix(a: readonly ArrayLike<number>[], b: readonly ArrayLike<number>[]): number[][] {
  const ra = a.map((c) => (isConstant(c) ? undefined : averageRanks(c)));
  const rb = b.map((c) => (isConstant(c) ? undefined : averageRanks(c)));
  return ra.map((x) => rb.map((y) => (x === undefined || y === undefined ? NaN : Math.abs(pearson(x, y)))));
}

/**
 * disentanglement_lib `lasso_correlation_matrix`: |weights| of `Lasso(alpha=0.1)` predicting every latent of the second
 * model from all latents of the first, transposed so rows are the first model's latents.
 */
export function lassoCorrelationMatrix(a: readonly ArrayLike<number>[], b: readonly ArrayLike<number>[], alpha = 0.1): number[][] {
  const { coef } = fitLasso(a, b, { alpha });
  return a.map((_, i) => coef.map((w) => Math.abs(w[i] as number)));
}

/**
 * scikit-learn `StandardScaler().fit_transform` of one column: centred, divided by the population standard deviation;
 * a column constant up to rounding keeps scale 1 (sklearn's `_is_constant_feature`), so it becomes ~0, not noise.
 */
function standardise(x: Float64Array): Float64Array {
  const n = x.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i] as number;
  const mean = s / n;
  let sq = 0;
  let corr = 0;
  for (let i = 0; i < n; i++) {
    const d = (x[i] as number) - mean;
    sq += d * d;
    corr += d;
  }
  const variance = (sq - (corr * corr) / n) / n;
  const eps = Number.EPSILON;
  const constant = variance <= n * eps * variance + (n * mean * eps) ** 2;
  const scale = constant ? 1 : Math.sqrt(variance);
  return Float64Array.from(x, (v) => (v - mean) / scale);
}

function median(values: number[]): number {
  const v = [...values].sort((p, q) => p - q);
  const m = v.length >> 1;
  return v.length % 2 === 1 ? (v[m] as number) : ((v[m - 1] as number) + (v[m] as number)) / 2;
}

/** Checks the models' samples (same rows and latents, finite, KL per latent) and returns each model's columns. */
function modelColumns(models: readonly UdrModelSample[]): Float64Array[][] {
  if (models.length < 2) {
    throw new MetricInputError(
      `UDR compares models that differ only in their seed, and got ${models.length}: it is undefined for a single model; ` +
        'train the configuration with at least two seeds (disentanglement_lib compares all pairs)',
    );
  }
  const cols = models.map((m, i) => codeColumns(m.codes, `UDR model ${i} codes`));
  const n = models[0]?.codes.length ?? 0;
  const d = cols[0]?.length ?? 0;
  if (n < 2) throw new MetricInputError(`UDR needs at least two shared images, got ${n}`);
  models.forEach((m, i) => {
    if (m.codes.length !== n) {
      throw new MetricInputError(`UDR model ${i} has ${m.codes.length} rows but model 0 has ${n}: every model must encode the same images`);
    }
    if (cols[i]?.length !== d) {
      throw new MetricInputError(`UDR model ${i} has ${cols[i]?.length} latents but model 0 has ${d}: compare models of one latent size`);
    }
    if (m.kl.length !== d || !Array.from(m.kl).every(Number.isFinite)) {
      throw new MetricInputError(`UDR model ${i}: kl must give one finite mean KL per latent (${d}), got ${m.kl.length} values`);
    }
  });
  return cols;
}

/** disentanglement_lib `compute_udr_sklearn` on given representations: every ordered pair of models, then medians. */
export function udrFromRepresentations(models: readonly UdrModelSample[], opts: UdrOptions = {}): UdrResult {
  const correlation = opts.correlation ?? 'lasso';
  const filter = opts.filterLowKl ?? true;
  const threshold = opts.klFilterThreshold ?? 0.01;
  const raw = modelColumns(models);
  // The library zeroes latents with KL <= 0.01 after standardising, whatever the filter threshold is set to.
  const reps = raw.map((cols, i) =>
    cols.map((c, a) => ((models[i]?.kl[a] as number) > 0.01 ? standardise(c) : new Float64Array(c.length))),
  );
  const masks = models.map((m) => Array.from(m.kl, (k) => k > threshold));
  const m = models.length;
  const pairwise = Array.from({ length: m }, () => new Array<number>(m).fill(0));
  const correlations: number[][][][] = Array.from({ length: m }, () => new Array<number[][]>(m));
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      const d = (reps[i] as Float64Array[]).length;
      if (i === j) {
        (correlations[i] as number[][][])[j] = Array.from({ length: d }, () => new Array<number>(d).fill(0));
        continue;
      }
      const a = reps[i] as Float64Array[];
      const b = reps[j] as Float64Array[];
      const corr = correlation === 'lasso' ? lassoCorrelationMatrix(a, b, opts.lassoAlpha ?? 0.1) : spearmanCorrelationMatrix(a, b);
      (correlations[i] as number[][][])[j] = corr;
      const mi = masks[i] as boolean[];
      const mj = masks[j] as boolean[];
      const scored = filter ? corr.filter((_, r) => mi[r]).map((row) => row.filter((_, c) => mj[c])) : corr;
      if (scored.length === 0 || (scored[0] as number[]).length === 0) {
        const empty = scored.length === 0 ? i : j;
        throw new MetricInputError(
          `UDR: model ${empty} has no latent with mean KL above ${threshold} (its posterior collapsed), so it shares ` +
            'nothing to compare; leave it out of the comparison or lower klFilterThreshold',
        );
      }
      (pairwise[i] as number[])[j] = relativeStrengthDisentanglement(scored);
    }
  }
  const modelScores = Array.from({ length: m }, (_, i) => median(pairwise.map((row) => row[i] as number).filter((_, j) => j !== i)));
  return { modelScores, pairwise, correlations };
}
