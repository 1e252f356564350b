// Gradient boosted trees for classification, following scikit-learn's `GradientBoostingClassifier()` defaults
// (Friedman 2001, "Greedy Function Approximation: A Gradient Boosting Machine"): log-loss, 100 stages, learning rate
// 0.1, regression trees of depth 3 on the negative gradient with the friedman_mse split criterion, one Newton step per
// leaf; K trees per stage for K > 2 classes (softmax), one tree per stage for two classes (binomial). Features are
// cast to float32 as scikit-learn's trees do. DCI uses its feature importances (mean impurity decrease over the trees,
// normalised to sum 1) and its accuracy.
//
// Ties: scikit-learn visits each node's features in a random order and keeps the first of equally good splits, which
// decides between duplicated or equally informative codes. We replay its random stream (numpy-random.ts, the
// splitter's xorshift) so the same seed makes the same choices. Speed: every feature is sorted once per fit; a
// node's samples stay sorted per feature by stable partitioning, so no tree sorts anything.
import { NumpyRandomState } from './numpy-random.js';
import { growTree, type Tree } from './gbt-tree.js';
import { denseLabels, MetricInputError } from './utils.js';

export interface GbtOptions {
  nEstimators?: number;
  learningRate?: number;
  maxDepth?: number;
  /**
   * The numpy random state the reference draws its trees' seeds from (`np.random.seed(s)` before the call); shared
   * across fits so several classifiers continue one stream, as DCI's per-factor fits do. Default: seed 0.
   */
  random?: NumpyRandomState;
}

export interface GbtModel {
  classes: number[];
  numFeatures: number;
  learningRate: number;
  /** Initial raw prediction per output. */
  init: Float64Array;
  /** trees[stage][output]. */
  trees: Tree[][];
  /** Normalised feature importances (sum 1, or all 0 when no tree split). */
  featureImportances: Float64Array;
  /** Predicted labels of the training rows (from the raw predictions accumulated while fitting). */
  trainPredictions: Float64Array;
}

function toFloat32(cols: readonly ArrayLike<number>[]): Float32Array[] {
  return cols.map((c) => Float32Array.from(c as ArrayLike<number>));
}


function safeDivide(num: number, den: number): number {
  return Math.abs(den) < 1e-150 ? 0 : num / den;
}

/** Fits on feature columns (D columns of N values) and integer labels. */
export function fitGbt(cols: readonly ArrayLike<number>[], labels: ArrayLike<number>, opts: GbtOptions = {}): GbtModel {
  const nEstimators = opts.nEstimators ?? 100;
  const lr = opts.learningRate ?? 0.1;
  const maxDepth = opts.maxDepth ?? 3;
  const random = opts.random ?? new NumpyRandomState(0);
  const d = cols.length;
  if (d === 0) throw new MetricInputError('gradient boosting: no features');
  const n = (cols[0] as ArrayLike<number>).length;
  if (labels.length !== n) throw new MetricInputError(`gradient boosting: ${n} samples but ${labels.length} labels`);
  const { labels: y, count: k, values: classes } = denseLabels(labels);
  if (k < 2) throw new MetricInputError(`gradient boosting: the labels take a single value (${classes[0]})`);
  const xs = toFloat32(cols);
  const order = xs.map((xf) => {
    const idx = new Int32Array(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    return idx.sort((a, b) => (xf[a] as number) - (xf[b] as number) || a - b);
  });
  const outputs = k === 2 ? 1 : k;
  const counts = new Float64Array(k);
  for (let i = 0; i < n; i++) counts[y[i] as number]! += 1;
  const eps = 1.1920928955078125e-7; // float32 eps, scikit-learn clips the prior to [eps, 1 - eps]
  const prior = Array.from(counts, (c) => Math.min(Math.max(c / n, eps), 1 - eps));
  const init = new Float64Array(outputs);
  if (outputs === 1) {
    const p = prior[1] as number;
    init[0] = Math.log(p / (1 - p));
  } else {
    const logs = prior.map((p) => Math.log(p));
    const m = logs.reduce((a, b) => a + b, 0) / k;
    logs.forEach((l, c) => (init[c] = l - m));
  }
  const raw = new Float64Array(n * outputs);
  for (let i = 0; i < n; i++) for (let c = 0; c < outputs; c++) raw[i * outputs + c] = init[c] as number;
  const negGrad = Array.from({ length: outputs }, () => new Float64Array(n));
  const expBuf = new Float64Array(outputs);
  const work = {
    idx: Array.from({ length: d }, () => new Int32Array(n)),
    tmp: new Int32Array(n),
    goLeft: new Uint8Array(n),
    leafOf: new Int32Array(n),
  };
  const trees: Tree[][] = [];
  const importanceSum = new Float64Array(d);
  let relevantTrees = 0;
  for (let stage = 0; stage < nEstimators; stage++) {
    // Negative gradient of the loss at the stage's start: y_k - p_k.
    for (let i = 0; i < n; i++) {
      const yi = y[i] as number;
      if (outputs === 1) {
        const s = raw[i] as number;
        const p = s >= 0 ? 1 / (1 + Math.exp(-s)) : Math.exp(s) / (1 + Math.exp(s));
        (negGrad[0] as Float64Array)[i] = (yi === 1 ? 1 : 0) - p;
        continue;
      }
      const off = i * outputs;
      let max = -Infinity;
      for (let c = 0; c < outputs; c++) max = Math.max(max, raw[off + c] as number);
      let sum = 0;
      for (let c = 0; c < outputs; c++) {
        const e = Math.exp((raw[off + c] as number) - max);
        expBuf[c] = e;
        sum += e;
      }
      for (let c = 0; c < outputs; c++) {
        (negGrad[c] as Float64Array)[i] = (yi === c ? 1 : 0) - (expBuf[c] as number) / sum;
      }
    }
    const stageTrees: Tree[] = [];
    for (let c = 0; c < outputs; c++) {
      const g = negGrad[c] as Float64Array;
      const built = growTree(xs, order, g, maxDepth, random, work);
      // One Newton step per leaf: sum(y - p) / sum(p (1 - p)), scaled by (K-1)/K for the softmax.
      const num = new Float64Array(built.tree.value.length);
      const den = new Float64Array(built.tree.value.length);
      const yc = outputs === 1 ? 1 : c;
      for (let i = 0; i < n; i++) {
        const leaf = built.leafOf[i] as number;
        const ng = g[i] as number;
        const p = ((y[i] as number) === yc ? 1 : 0) - ng;
        num[leaf]! += ng;
        den[leaf]! += p * (1 - p);
      }
      const scale = outputs === 1 ? 1 : (k - 1) / k;
      for (let node = 0; node < built.nodeCount; node++) {
        if ((built.tree.feature[node] as number) < 0) {
          built.tree.value[node] = safeDivide(scale * (num[node] as number), den[node] as number);
        }
      }
      for (let i = 0; i < n; i++) {
        raw[i * outputs + c]! += lr * (built.tree.value[built.leafOf[i] as number] as number);
      }
      if (built.nodeCount > 1) {
        relevantTrees++;
        for (let f = 0; f < d; f++) importanceSum[f]! += built.importance[f] as number;
      }
      stageTrees.push(built.tree);
    }
    trees.push(stageTrees);
  }
  const featureImportances = new Float64Array(d);
  if (relevantTrees > 0) {
    let total = 0;
    for (let f = 0; f < d; f++) total += (importanceSum[f] as number) / relevantTrees;
    for (let f = 0; f < d; f++) featureImportances[f] = (importanceSum[f] as number) / relevantTrees / total;
  }
  const model: GbtModel = {
    classes,
    numFeatures: d,
    learningRate: lr,
    init,
    trees,
    featureImportances,
    trainPredictions: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) model.trainPredictions[i] = decide(model, raw.subarray(i * outputs, (i + 1) * outputs));
  return model;
}

/** Raw predictions (N rows of 1 or K values): the initial value plus every tree's scaled leaf value, in stage order. */
export function gbtDecision(model: GbtModel, cols: readonly ArrayLike<number>[]): Float64Array[] {
  if (cols.length !== model.numFeatures) {
    throw new MetricInputError(`gradient boosting: model has ${model.numFeatures} features, input ${cols.length}`);
  }
  const xs = toFloat32(cols);
  const n = (xs[0] as Float32Array).length;
  const outputs = model.init.length;
  const raw = new Float64Array(n * outputs);
  for (let i = 0; i < n; i++) for (let c = 0; c < outputs; c++) raw[i * outputs + c] = model.init[c] as number;
  const lr = model.learningRate;
  for (const stage of model.trees) {
    for (let c = 0; c < stage.length; c++) {
      const tree = stage[c] as Tree;
      const { feature, threshold, left, right, value } = tree;
      for (let i = 0; i < n; i++) {
        let node = 0;
        let f = feature[0] as number;
        while (f >= 0) {
          node = ((xs[f] as Float32Array)[i] as number) <= (threshold[node] as number) ? (left[node] as number) : (right[node] as number);
          f = feature[node] as number;
        }
        raw[i * outputs + c]! += lr * (value[node] as number);
      }
    }
  }
  return Array.from({ length: n }, (_, i) => raw.slice(i * outputs, (i + 1) * outputs));
}

/** Labels from raw predictions: argmax (for two classes: the second when its probability exceeds 1/2). */
function decide(model: GbtModel, row: ArrayLike<number>): number {
  if (row.length === 1) {
    const p = 1 / (1 + Math.exp(-(row[0] as number)));
    return model.classes[p > 0.5 ? 1 : 0] as number;
  }
  let best = 0;
  for (let c = 1; c < row.length; c++) if ((row[c] as number) > (row[best] as number)) best = c;
  return model.classes[best] as number;
}

/** Predicted labels. */
export function predictGbt(model: GbtModel, cols: readonly ArrayLike<number>[]): Float64Array {
  return Float64Array.from(gbtDecision(model, cols), (row) => decide(model, row));
}
