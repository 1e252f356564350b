// Shared helpers of the disentanglement metrics, after disentanglement_lib `evaluation/metrics/utils.py`:
// input validation, the histogram discretiser, discrete mutual information and entropy, and the small linear-algebra
// and statistics pieces several metrics need. Everything here is pure and works on plain arrays.
//
// Layout: public functions take row-major samples (N rows of D codes, N rows of K factor indices), as a dataset or a
// JSON file gives them; internally each dimension becomes one contiguous column (Float64Array / Int32Array).

/** N rows of D numbers (a representation) or of K factor indices. */
export type Rows = readonly ArrayLike<number>[];

/** Error thrown for invalid metric inputs; the message says what is wrong and where. */
export class MetricInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetricInputError';
  }
}

/** Checks a representation matrix (finite numbers, equal row lengths) and returns its columns. */
export function codeColumns(codes: Rows, what = 'codes'): Float64Array[] {
  const n = codes.length;
  if (n === 0) throw new MetricInputError(`${what}: no samples (need at least one row)`);
  const d = (codes[0] as ArrayLike<number>).length;
  if (d === 0) throw new MetricInputError(`${what}: rows have no dimensions`);
  const cols = Array.from({ length: d }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    const row = codes[i] as ArrayLike<number>;
    if (row.length !== d) {
      throw new MetricInputError(`${what}: row ${i} has ${row.length} values, row 0 has ${d}`);
    }
    for (let j = 0; j < d; j++) {
      const v = row[j] as number;
      if (!Number.isFinite(v)) throw new MetricInputError(`${what}: row ${i}, dim ${j} is ${v} (codes must be finite)`);
      (cols[j] as Float64Array)[i] = v;
    }
  }
  return cols;
}

/** Checks a factor matrix (non-negative integers, equal row lengths) and returns its columns. */
export function factorColumns(factors: Rows, what = 'factors'): Int32Array[] {
  const n = factors.length;
  if (n === 0) throw new MetricInputError(`${what}: no samples (need at least one row)`);
  const k = (factors[0] as ArrayLike<number>).length;
  if (k === 0) throw new MetricInputError(`${what}: rows have no factors`);
  const cols = Array.from({ length: k }, () => new Int32Array(n));
  for (let i = 0; i < n; i++) {
    const row = factors[i] as ArrayLike<number>;
    if (row.length !== k) throw new MetricInputError(`${what}: row ${i} has ${row.length} factors, row 0 has ${k}`);
    for (let j = 0; j < k; j++) {
      const v = row[j] as number;
      if (!Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1) {
        throw new MetricInputError(`${what}: row ${i}, factor ${j} is ${v} (factors must be integer indices >= 0)`);
      }
      (cols[j] as Int32Array)[i] = v;
    }
  }
  return cols;
}

/** Validates a paired (codes, factors) sample; returns the columns of both. */
export function pairedColumns(
  codes: Rows,
  factors: Rows,
  what: string,
): { codes: Float64Array[]; factors: Int32Array[] } {
  if (codes.length !== factors.length) {
    throw new MetricInputError(
      `${what}: codes have ${codes.length} rows but factors have ${factors.length}; they must be paired row by row`,
    );
  }
  return { codes: codeColumns(codes, `${what} codes`), factors: factorColumns(factors, `${what} factors`) };
}

/** Every factor must take at least two values in the sample, or its entropy is zero and the scores undefined. */
export function requireVaryingFactors(factors: readonly Int32Array[], what: string): void {
  factors.forEach((col, k) => {
    const first = col[0];
    if (col.every((v) => v === first)) {
      throw new MetricInputError(
        `${what}: factor ${k} takes a single value (${first}) in all ${col.length} samples; ` +
          'each factor must vary for the metric to be defined',
      );
    }
  });
}

/**
 * Histogram discretiser of disentanglement_lib (`_histogram_discretize`): bins of equal width between the minimum
 * and the maximum (numpy `np.histogram` edges), and `np.digitize(x, edges[:-1])`, so labels run 1..numBins and the
 * maximum lands in the last bin. A constant column uses [v-0.5, v+0.5].
 */
export function histogramDiscretize(values: ArrayLike<number>, numBins = 20): Int32Array {
  const n = values.length;
  if (!Number.isInteger(numBins) || numBins < 1) throw new MetricInputError(`numBins must be a positive integer`);
  if (n < numBins) {
    throw new MetricInputError(
      `histogram discretiser: ${n} samples are fewer than the ${numBins} bins; use at least ${numBins} samples`,
    );
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    if (Number.isNaN(v)) throw new MetricInputError(`histogram discretiser: value ${i} is NaN`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    throw new MetricInputError('histogram discretiser: values must be finite');
  }
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  // np.linspace(lo, hi, numBins + 1): edges[i] = i * step + lo with step = (hi - lo) / numBins.
  const step = (hi - lo) / numBins;
  const edges = new Float64Array(numBins);
  for (let i = 0; i < numBins; i++) edges[i] = i * step + lo;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    // Number of edges <= v (edges ascending): binary search for the first edge > v.
    let a = 0;
    let b = numBins;
    while (a < b) {
      const m = (a + b) >>> 1;
      if ((edges[m] as number) <= v) a = m + 1;
      else b = m;
    }
    out[i] = a;
  }
  return out;
}

/** Relabels integer labels to 0..m-1 (in increasing order of value); returns the labels and m. */
export function denseLabels(labels: ArrayLike<number>): { labels: Int32Array; count: number; values: number[] } {
  const values = Array.from(new Set(Array.from(labels))).sort((a, b) => a - b);
  const index = new Map<number, number>();
  values.forEach((v, i) => index.set(v, i));
  const out = new Int32Array(labels.length);
  for (let i = 0; i < labels.length; i++) out[i] = index.get(labels[i] as number) as number;
  return { labels: out, count: values.length, values };
}

/**
 * Mutual information of two discrete labelings in nats, as scikit-learn's `mutual_info_score`:
 * sum over non-empty cells of (n_ij/N) log(N n_ij / (n_i n_j)); 0 when either labeling has a single value.
 */
export function mutualInfoScore(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  if (b.length !== n) throw new MetricInputError(`mutual information: labelings have ${n} and ${b.length} samples`);
  const la = denseLabels(a);
  const lb = denseLabels(b);
  if (la.count === 1 || lb.count === 1) return 0;
  const counts = new Float64Array(la.count * lb.count);
  for (let i = 0; i < n; i++) counts[(la.labels[i] as number) * lb.count + (lb.labels[i] as number)]! += 1;
  const pi = new Float64Array(la.count);
  const pj = new Float64Array(lb.count);
  for (let i = 0; i < la.count; i++) {
    for (let j = 0; j < lb.count; j++) {
      const c = counts[i * lb.count + j] as number;
      pi[i]! += c;
      pj[j]! += c;
    }
  }
  const logN = Math.log(n);
  let mi = 0;
  for (let i = 0; i < la.count; i++) {
    for (let j = 0; j < lb.count; j++) {
      const c = counts[i * lb.count + j] as number;
      if (c === 0) continue;
      const p = c / n;
      // Same grouping as scikit-learn: p (log c - log N) + p (log N + log N - log(n_i n_j)).
      let term = p * (Math.log(c) - logN) + p * (-Math.log((pi[i] as number) * (pj[j] as number)) + logN + logN);
      if (Math.abs(term) < Number.EPSILON) term = 0;
      mi += term;
    }
  }
  return Math.max(mi, 0);
}

/** Matrix m[d][k] = MI(discretised code d, factor k) in nats (disentanglement_lib `discrete_mutual_info`). */
export function discreteMutualInfo(codes: readonly ArrayLike<number>[], factors: readonly ArrayLike<number>[]): number[][] {
  return codes.map((c) => factors.map((f) => mutualInfoScore(f, c)));
}

/** Entropy of each factor in nats (disentanglement_lib `discrete_entropy`: MI of a labeling with itself). */
export function discreteEntropy(factors: readonly ArrayLike<number>[]): number[] {
  return factors.map((f) => mutualInfoScore(f, f));
}

/** Discretises every code column with the histogram discretiser (disentanglement_lib `make_discretizer`). */
export function discretizeColumns(cols: readonly ArrayLike<number>[], numBins = 20): Int32Array[] {
  return cols.map((c) => histogramDiscretize(c, numBins));
}

export function mean(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] as number;
  return s / x.length;
}

/** Variance with the given delta degrees of freedom (numpy `var(ddof=...)`). */
export function variance(x: ArrayLike<number>, ddof = 0): number {
  const m = mean(x);
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const d = (x[i] as number) - m;
    s += d * d;
  }
  return s / (x.length - ddof);
}

/** Mean over factors of the gap between the largest and second-largest entry of each column of m[code][factor]. */
export function meanTopTwoGap(matrix: readonly (readonly number[])[]): number {
  const numFactors = (matrix[0] as readonly number[]).length;
  if (matrix.length < 2) throw new MetricInputError('the score needs at least two code dimensions');
  let total = 0;
  for (let k = 0; k < numFactors; k++) {
    const col = matrix.map((row) => row[k] as number).sort((a, b) => b - a);
    total += (col[0] as number) - (col[1] as number);
  }
  return total / numFactors;
}

/** Rows [from, to) of a row-major sample. */
export function sliceRows<T>(rows: readonly T[], from: number, to: number): T[] {
  return rows.slice(from, to);
}

/** Column j of a row-major numeric matrix. */
export function column(rows: Rows, j: number): Float64Array {
  const out = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = (rows[i] as ArrayLike<number>)[j] as number;
  return out;
}

/** Row-major matrix from columns. */
export function columnsToRows(cols: readonly ArrayLike<number>[]): number[][] {
  const n = (cols[0] as ArrayLike<number>).length;
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) rows.push(cols.map((c) => c[i] as number));
  return rows;
}
