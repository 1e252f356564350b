// Gradient boosted trees for classification, following scikit-learn's `GradientBoostingClassifier()` defaults
// (Friedman 2001, "Greedy Function Approximation: A Gradient Boosting Machine"): log-loss, 100 stages, learning rate
// 0.1, regression trees of depth 3 on the negative gradient with the friedman_mse split criterion, one Newton step per
// leaf; K trees per stage for K > 2 classes (softmax), one tree per stage for two classes (binomial). Features are
// cast to float32 as scikit-learn's trees do. DCI uses its feature importances (mean impurity decrease over the trees,
// normalised to sum 1) and its accuracy.
//
// Speed: every feature is sorted once; each tree level is grown with one pass per feature over that order, all the
// level's nodes at once (no re-sorting, no partitioning). scikit-learn visits features in a random order, which only
// matters when two splits tie exactly; here they are visited in index order.
import { denseLabels, MetricInputError } from './utils.js';

export interface GbtOptions {
  nEstimators?: number;
  learningRate?: number;
  maxDepth?: number;
}

interface Tree {
  feature: Int32Array; // -1 for leaves
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  value: Float64Array;
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
}

// scikit-learn's tree constants: values closer than FEATURE_THRESHOLD are not split apart; nodes with impurity at or
// below EPSILON are leaves.
const FEATURE_THRESHOLD = 1e-7;
const EPSILON = 2.220446049250313e-16;

function toFloat32(cols: readonly ArrayLike<number>[]): Float32Array[] {
  return cols.map((c) => Float32Array.from(c as ArrayLike<number>));
}

interface TreeBuild {
  tree: Tree;
  /** Leaf node of every training sample. */
  leafOf: Int32Array;
  /** Unnormalised importance contribution (sum of weighted impurity decreases). */
  importance: Float64Array;
  nodeCount: number;
}

/** Grows one regression tree (friedman_mse, depth-limited) on target r. */
function growTree(xs: Float32Array[], order: Int32Array[], r: Float64Array, maxDepth: number): TreeBuild {
  const n = r.length;
  const d = xs.length;
  const maxNodes = 2 ** (maxDepth + 1);
  const feature = new Int32Array(maxNodes).fill(-1);
  const threshold = new Float64Array(maxNodes);
  const left = new Int32Array(maxNodes).fill(-1);
  const right = new Int32Array(maxNodes).fill(-1);
  const wN = new Float64Array(maxNodes);
  const sN = new Float64Array(maxNodes);
  const ssN = new Float64Array(maxNodes);
  const importance = new Float64Array(d);
  const nodeOf = new Int32Array(n);
  let nodeCount = 1;
  for (let i = 0; i < n; i++) {
    const v = r[i] as number;
    sN[0]! += v;
    ssN[0]! += v * v;
  }
  wN[0] = n;
  const impurity = (node: number): number => {
    const w = wN[node] as number;
    const m = (sN[node] as number) / w;
    return (ssN[node] as number) / w - m * m;
  };
  let level = [0];
  const splittable = new Uint8Array(maxNodes);
  const wl = new Float64Array(maxNodes);
  const sl = new Float64Array(maxNodes);
  const last = new Float64Array(maxNodes);
  const bestProxy = new Float64Array(maxNodes);
  const bestFeature = new Int32Array(maxNodes);
  const bestThreshold = new Float64Array(maxNodes);
  for (let depth = 0; depth <= maxDepth && level.length > 0; depth++) {
    splittable.fill(0);
    const toSplit: number[] = [];
    for (const node of level) {
      const isLeaf = depth >= maxDepth || (wN[node] as number) < 2 || impurity(node) <= EPSILON;
      if (!isLeaf) {
        splittable[node] = 1;
        toSplit.push(node);
        bestProxy[node] = -Infinity;
        bestFeature[node] = -1;
      }
    }
    if (toSplit.length === 0) break;
    for (let f = 0; f < d; f++) {
      const xf = xs[f] as Float32Array;
      const of = order[f] as Int32Array;
      for (const node of toSplit) {
        wl[node] = 0;
        sl[node] = 0;
        last[node] = NaN;
      }
      for (let t = 0; t < n; t++) {
        const i = of[t] as number;
        const node = nodeOf[i] as number;
        if (splittable[node] === 0) continue;
        const v = xf[i] as number;
        const wLeft = wl[node] as number;
        const prev = last[node] as number;
        if (wLeft > 0 && v > prev + FEATURE_THRESHOLD) {
          const wRight = (wN[node] as number) - wLeft;
          const sLeft = sl[node] as number;
          const sRight = (sN[node] as number) - sLeft;
          const diff = sRight * wLeft - sLeft * wRight;
          const proxy = (diff * diff) / (wLeft * wRight);
          if (proxy > (bestProxy[node] as number)) {
            bestProxy[node] = proxy;
            bestFeature[node] = f;
            let thr = prev / 2 + v / 2;
            if (thr === v || !Number.isFinite(thr)) thr = prev;
            bestThreshold[node] = thr;
          }
        }
        wl[node] = wLeft + 1;
        sl[node]! += r[i] as number;
        last[node] = v;
      }
    }
    const next: number[] = [];
    const splitNow = new Uint8Array(maxNodes);
    for (const node of toSplit) {
      if ((bestFeature[node] as number) < 0) continue; // every feature constant in the node: a leaf
      feature[node] = bestFeature[node] as number;
      threshold[node] = bestThreshold[node] as number;
      const l = nodeCount++;
      const rr = nodeCount++;
      left[node] = l;
      right[node] = rr;
      wN[l] = 0;
      sN[l] = 0;
      ssN[l] = 0;
      wN[rr] = 0;
      sN[rr] = 0;
      ssN[rr] = 0;
      splitNow[node] = 1;
      next.push(l, rr);
    }
    if (next.length === 0) break;
    for (let i = 0; i < n; i++) {
      const node = nodeOf[i] as number;
      if (splitNow[node] === 0) continue;
      const f = feature[node] as number;
      const child = ((xs[f] as Float32Array)[i] as number) <= (threshold[node] as number) ? left[node] : right[node];
      const c = child as number;
      nodeOf[i] = c;
      const v = r[i] as number;
      wN[c]! += 1;
      sN[c]! += v;
      ssN[c]! += v * v;
    }
    for (const node of toSplit) {
      if (splitNow[node] === 0) continue;
      const l = left[node] as number;
      const rr = right[node] as number;
      importance[feature[node] as number]! +=
        (wN[node] as number) * impurity(node) - (wN[l] as number) * impurity(l) - (wN[rr] as number) * impurity(rr);
    }
    level = next;
  }
  // scikit-learn divides a tree's importances by the root's weighted sample count.
  for (let f = 0; f < d; f++) importance[f]! /= n;
  return {
    tree: { feature, threshold, left, right, value: new Float64Array(maxNodes) },
    leafOf: nodeOf,
    importance,
    nodeCount,
  };
}

function applyTree(tree: Tree, xs: Float32Array[], i: number): number {
  let node = 0;
  while ((tree.feature[node] as number) >= 0) {
    const f = tree.feature[node] as number;
    node = ((xs[f] as Float32Array)[i] as number) <= (tree.threshold[node] as number)
      ? (tree.left[node] as number)
      : (tree.right[node] as number);
  }
  return node;
}

function safeDivide(num: number, den: number): number {
  return Math.abs(den) < 1e-150 ? 0 : num / den;
}

/** Fits on feature columns (D columns of N values) and integer labels. */
export function fitGbt(cols: readonly ArrayLike<number>[], labels: ArrayLike<number>, opts: GbtOptions = {}): GbtModel {
  const nEstimators = opts.nEstimators ?? 100;
  const lr = opts.learningRate ?? 0.1;
  const maxDepth = opts.maxDepth ?? 3;
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
      for (let c = 0; c < outputs; c++) sum += Math.exp((raw[off + c] as number) - max);
      for (let c = 0; c < outputs; c++) {
        const p = Math.exp((raw[off + c] as number) - max) / sum;
        (negGrad[c] as Float64Array)[i] = (yi === c ? 1 : 0) - p;
      }
    }
    const stageTrees: Tree[] = [];
    for (let c = 0; c < outputs; c++) {
      const g = negGrad[c] as Float64Array;
      const built = growTree(xs, order, g, maxDepth);
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
  return { classes, numFeatures: d, learningRate: lr, init, trees, featureImportances };
}

/** Raw predictions (N rows of 1 or K values). */
export function gbtDecision(model: GbtModel, cols: readonly ArrayLike<number>[]): Float64Array[] {
  if (cols.length !== model.numFeatures) {
    throw new MetricInputError(`gradient boosting: model has ${model.numFeatures} features, input ${cols.length}`);
  }
  const xs = toFloat32(cols);
  const n = (xs[0] as Float32Array).length;
  const outputs = model.init.length;
  const out: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    const row = Float64Array.from(model.init);
    for (const stage of model.trees) {
      stage.forEach((tree, c) => {
        row[c]! += model.learningRate * (tree.value[applyTree(tree, xs, i)] as number);
      });
    }
    out.push(row.length === outputs ? row : row);
  }
  return out;
}

/** Predicted labels: argmax of the raw predictions (for two classes: the second when its probability > 1/2). */
export function predictGbt(model: GbtModel, cols: readonly ArrayLike<number>[]): Float64Array {
  return Float64Array.from(gbtDecision(model, cols), (row) => {
    if (row.length === 1) {
      const p = 1 / (1 + Math.exp(-(row[0] as number)));
      return model.classes[p > 0.5 ? 1 : 0] as number;
    }
    let best = 0;
    for (let c = 1; c < row.length; c++) if ((row[c] as number) > (row[best] as number)) best = c;
    return model.classes[best] as number;
  });
}
