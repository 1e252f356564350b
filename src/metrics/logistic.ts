// L2-regularised logistic regression as scikit-learn 1.9.1's `LogisticRegression()` defines it: C = 1 on the summed
// log-loss, intercept not penalised; multinomial (softmax over all classes, every class with its own weights) for
// more than two classes, the binomial loss with one weight vector for two. scikit-learn stops lbfgs at a gradient
// of 1e-4; we solve to the optimum (the conformance README measured the difference in scores at <= 2.1e-6).
// Also the macro one-vs-rest ROC AUC used by Explicitness.
import { lbfgs } from './optim.js';
import { denseLabels, MetricInputError } from './utils.js';

export interface LogisticModel {
  classes: number[];
  numFeatures: number;
  /** Rows of weights (one per class, or a single row for two classes), numFeatures each. */
  weights: Float64Array[];
  intercepts: Float64Array;
  converged: boolean;
  iterations: number;
}

export interface LogisticOptions {
  C?: number;
  maxIter?: number;
  gtol?: number;
}

/** Row-major N x D matrix from feature columns. */
function rowMajor(cols: readonly ArrayLike<number>[]): Float64Array {
  const d = cols.length;
  const n = (cols[0] as ArrayLike<number>).length;
  const x = new Float64Array(n * d);
  for (let j = 0; j < d; j++) {
    const c = cols[j] as ArrayLike<number>;
    for (let i = 0; i < n; i++) x[i * d + j] = c[i] as number;
  }
  return x;
}

/** Fits on feature columns (D columns of N values) and labels (N). */
export function fitLogistic(
  cols: readonly ArrayLike<number>[],
  labels: ArrayLike<number>,
  opts: LogisticOptions = {},
): LogisticModel {
  const C = opts.C ?? 1;
  const d = cols.length;
  if (d === 0) throw new MetricInputError('logistic regression: no features');
  const n = (cols[0] as ArrayLike<number>).length;
  if (labels.length !== n) throw new MetricInputError(`logistic regression: ${n} samples but ${labels.length} labels`);
  const { labels: y, count: k, values: classes } = denseLabels(labels);
  if (k < 2) throw new MetricInputError(`logistic regression: the labels take a single value (${classes[0]})`);
  const x = rowMajor(cols);
  const rowsW = k === 2 ? 1 : k;
  const p = rowsW * (d + 1); // weights then intercepts
  const lam = 1 / (C * n); // penalty 0.5 * lam * |W|^2 on the mean loss
  const z = new Float64Array(rowsW);
  const fg = (theta: Float64Array, g: Float64Array): number => {
    g.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const off = i * d;
      const yi = y[i] as number;
      if (rowsW === 1) {
        let s = theta[d] as number;
        for (let j = 0; j < d; j++) s += (theta[j] as number) * (x[off + j] as number);
        // log(1 + exp(s)) - y s, stably.
        const t = yi === 1 ? 1 : 0;
        loss += (s > 0 ? s + Math.log1p(Math.exp(-s)) : Math.log1p(Math.exp(s))) - t * s;
        const pr = s >= 0 ? 1 / (1 + Math.exp(-s)) : Math.exp(s) / (1 + Math.exp(s));
        const r = pr - t;
        for (let j = 0; j < d; j++) g[j]! += r * (x[off + j] as number);
        g[d]! += r;
        continue;
      }
      let max = -Infinity;
      for (let c = 0; c < rowsW; c++) {
        let s = theta[rowsW * d + c] as number;
        const wo = c * d;
        for (let j = 0; j < d; j++) s += (theta[wo + j] as number) * (x[off + j] as number);
        z[c] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let c = 0; c < rowsW; c++) {
        const e = Math.exp((z[c] as number) - max);
        z[c] = e;
        sum += e;
      }
      // loss = logsumexp - z_y
      loss += Math.log(sum) + max - (Math.log(z[yi] as number) + max);
      for (let c = 0; c < rowsW; c++) {
        const r = (z[c] as number) / sum - (c === yi ? 1 : 0);
        const wo = c * d;
        for (let j = 0; j < d; j++) g[wo + j]! += r * (x[off + j] as number);
        g[rowsW * d + c]! += r;
      }
    }
    let pen = 0;
    for (let q = 0; q < p; q++) g[q]! /= n;
    for (let q = 0; q < rowsW * d; q++) {
      const w = theta[q] as number;
      pen += w * w;
      g[q]! += lam * w;
    }
    return loss / n + 0.5 * lam * pen;
  };
  const res = lbfgs(fg, new Float64Array(p), { maxIter: opts.maxIter ?? 2000, gtol: opts.gtol ?? 1e-6 });
  const weights = Array.from({ length: rowsW }, (_, c) => res.x.slice(c * d, (c + 1) * d));
  const intercepts = res.x.slice(rowsW * d, rowsW * d + rowsW);
  return { classes, numFeatures: d, weights, intercepts, converged: res.converged, iterations: res.iterations };
}

/** Class probabilities (N rows of numClasses), as predict_proba. */
export function predictProba(model: LogisticModel, cols: readonly ArrayLike<number>[]): Float64Array[] {
  if (cols.length !== model.numFeatures) {
    throw new MetricInputError(`logistic regression: model has ${model.numFeatures} features, input ${cols.length}`);
  }
  const n = (cols[0] as ArrayLike<number>).length;
  const d = model.numFeatures;
  const out: Float64Array[] = [];
  const k = model.classes.length;
  for (let i = 0; i < n; i++) {
    const row = new Float64Array(k);
    if (model.weights.length === 1) {
      let s = model.intercepts[0] as number;
      const w = model.weights[0] as Float64Array;
      for (let j = 0; j < d; j++) s += (w[j] as number) * ((cols[j] as ArrayLike<number>)[i] as number);
      const pr = 1 / (1 + Math.exp(-s));
      row[0] = 1 - pr;
      row[1] = pr;
    } else {
      let max = -Infinity;
      for (let c = 0; c < k; c++) {
        let s = model.intercepts[c] as number;
        const w = model.weights[c] as Float64Array;
        for (let j = 0; j < d; j++) s += (w[j] as number) * ((cols[j] as ArrayLike<number>)[i] as number);
        row[c] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let c = 0; c < k; c++) {
        row[c] = Math.exp((row[c] as number) - max);
        sum += row[c] as number;
      }
      for (let c = 0; c < k; c++) row[c]! /= sum;
    }
    out.push(row);
  }
  return out;
}

/** Predicted labels (argmax of the probabilities, first on ties). */
export function predictLogistic(model: LogisticModel, cols: readonly ArrayLike<number>[]): Float64Array {
  return Float64Array.from(predictProba(model, cols), (row) => {
    let best = 0;
    for (let c = 1; c < row.length; c++) if ((row[c] as number) > (row[best] as number)) best = c;
    return model.classes[best] as number;
  });
}

/** Fraction of labels predicted correctly. */
export function accuracy(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  let hit = 0;
  for (let i = 0; i < truth.length; i++) if (pred[i] === truth[i]) hit++;
  return hit / truth.length;
}

/** Binary ROC AUC (Mann-Whitney U, ties count 1/2). */
export function rocAuc(positive: ArrayLike<boolean>, score: ArrayLike<number>): number {
  const n = score.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => (score[a] as number) - (score[b] as number));
  let rankSumPos = 0;
  let numPos = 0;
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && score[idx[j + 1] as number] === score[idx[i] as number]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) {
      if (positive[idx[t] as number]) {
        rankSumPos += avgRank;
        numPos++;
      }
    }
    i = j + 1;
  }
  const numNeg = n - numPos;
  if (numPos === 0 || numNeg === 0) {
    throw new MetricInputError('ROC AUC: only one class present in a one-vs-rest column; every class needs both');
  }
  return (rankSumPos - (numPos * (numPos + 1)) / 2) / (numPos * numNeg);
}

/**
 * Macro one-vs-rest ROC AUC of class probabilities (columns in the order of classes), as
 * `roc_auc_score(MultiLabelBinarizer().fit_transform(y[:, None]), proba)`.
 */
export function macroRocAuc(labels: ArrayLike<number>, proba: readonly Float64Array[], classes: readonly number[]): number {
  const present = new Set(Array.from(labels));
  if (present.size !== classes.length || [...present].some((v) => !classes.includes(v))) {
    throw new MetricInputError(
      `ROC AUC: the labels take values {${[...present].sort((a, b) => a - b).join(', ')}} but the classifier was ` +
        `fitted on {${classes.join(', ')}}; every class must appear in both sets`,
    );
  }
  let total = 0;
  classes.forEach((cls, c) => {
    const pos = Array.from(labels, (v) => v === cls);
    total += rocAuc(pos, Float64Array.from(proba, (row) => row[c] as number));
  });
  return total / classes.length;
}
