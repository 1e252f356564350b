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
  /** Predicted labels of the training rows (from the raw predictions accumulated while fitting). */
  trainPredictions: Float64Array;
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

/** scikit-learn's `our_rand_r` / `rand_int` (xorshift on a 32-bit state) used by the tree splitter. */
class SplitterRandom {
  constructor(private state: number) {}
  randInt(low: number, high: number): number {
    let s = this.state >>> 0;
    if (s === 0) s = 1;
    s = (s ^ (s << 13)) >>> 0;
    s = (s ^ (s >>> 17)) >>> 0;
    s = (s ^ (s << 5)) >>> 0;
    this.state = s;
    return low + ((s & 0x7fffffff) % (high - low));
  }
}

const FEATURE_THRESHOLD_F32 = Math.fround(FEATURE_THRESHOLD);
const RAND_R_MAX = 2147483647;
const TIE_RTOL = 1e-12;

/**
 * Grows one regression tree (friedman_mse, depth-limited) on target r, depth first as scikit-learn's
 * DepthFirstTreeBuilder, visiting the features of each node in the order its splitter draws them (Fisher-Yates with
 * known-constant bookkeeping), so exact ties between features break the same way for the same random state.
 */
function growTree(
  xs: Float32Array[],
  order: Int32Array[],
  r: Float64Array,
  maxDepth: number,
  random: NumpyRandomState | undefined,
  work: { idx: Int32Array[]; tmp: Int32Array; goLeft: Uint8Array; leafOf: Int32Array },
): TreeBuild {
  const n = r.length;
  const d = xs.length;
  const maxNodes = 2 ** (maxDepth + 1);
  const feature = new Int32Array(maxNodes).fill(-1);
  const threshold = new Float64Array(maxNodes);
  const left = new Int32Array(maxNodes).fill(-1);
  const right = new Int32Array(maxNodes).fill(-1);
  const importance = new Float64Array(d);
  const { idx, tmp, goLeft, leafOf } = work;
  order.forEach((o, f) => (idx[f] as Int32Array).set(o));
  const rng = new SplitterRandom(random ? random.randint(0, RAND_R_MAX) : 1);
  const features = new Int32Array(d);
  for (let f = 0; f < d; f++) features[f] = f;
  const constantFeatures = new Int32Array(d);
  let nodeCount = 0;

  /** Weight, sum and variance of the residuals of rows seg[start..end). */
  const segmentStats = (start: number, end: number, seg = idx[0] as Int32Array): { w: number; s: number; imp: number } => {
    let s = 0;
    let ss = 0;
    for (let p = start; p < end; p++) {
      const v = r[seg[p] as number] as number;
      s += v;
      ss += v * v;
    }
    const w = end - start;
    const m = s / w;
    return { w, s, imp: ss / w - m * m };
  };

  interface Record {
    start: number;
    end: number;
    depth: number;
    parent: number;
    isLeft: boolean;
    impurity: number;
    nConst: number;
  }
  const root = segmentStats(0, n);
  const stack: Record[] = [{ start: 0, end: n, depth: 0, parent: -1, isLeft: false, impurity: root.imp, nConst: 0 }];
  while (stack.length > 0) {
    const rec = stack.pop() as Record;
    const { start, end, depth } = rec;
    const nNode = end - start;
    let isLeaf = depth >= maxDepth || nNode < 2 || rec.impurity <= EPSILON;
    let bestFeature = -1;
    let bestThreshold = 0;
    let bestPos = end;
    let nConstOut = rec.nConst;
    if (!isLeaf) {
      // scikit-learn node_split_best: draw features without replacement, skipping known constants.
      const stats = segmentStats(start, end);
      const total = stats.s;
      let bestProxy = -Infinity;
      let fI = d;
      let nVisited = 0;
      let nFound = 0;
      let nDrawn = 0;
      const nKnown = rec.nConst;
      let nTotal = nKnown;
      while (fI > nTotal && (nVisited < d || nVisited <= nFound + nDrawn)) {
        nVisited++;
        let fJ = rng.randInt(nDrawn, fI - nFound);
        if (fJ < nKnown) {
          const a = features[nDrawn] as number;
          features[nDrawn] = features[fJ] as number;
          features[fJ] = a;
          nDrawn++;
          continue;
        }
        fJ += nFound;
        const f = features[fJ] as number;
        const xf = xs[f] as Float32Array;
        const seg = idx[f] as Int32Array;
        if ((xf[seg[end - 1] as number] as number) <= Math.fround((xf[seg[start] as number] as number) + FEATURE_THRESHOLD_F32)) {
          const a = features[fJ] as number;
          features[fJ] = features[nTotal] as number;
          features[nTotal] = a;
          nFound++;
          nTotal++;
          continue;
        }
        fI--;
        {
          const a = features[fI] as number;
          features[fI] = features[fJ] as number;
          features[fJ] = a;
        }
        let sl = 0;
        let prev = xf[seg[start] as number] as number;
        for (let p = start; p < end; p++) {
          const i = seg[p] as number;
          const v = xf[i] as number;
          if (p > start && v > Math.fround(prev + FEATURE_THRESHOLD_F32)) {
            const wl = p - start;
            const wr = nNode - wl;
            const diff = (total - sl) * wl - sl * wr;
            const proxy = (diff * diff) / (wl * wr);
            // Mathematically equal candidates (the same partition seen through two features) differ only by
            // rounding; count them as ties, which the first visited feature wins.
            if (bestFeature < 0 || proxy > bestProxy + TIE_RTOL * Math.abs(bestProxy)) {
              bestProxy = proxy;
              bestFeature = f;
              bestThreshold = prev / 2 + v / 2;
              bestPos = p;
            }
          }
          sl += r[i] as number;
          prev = v;
        }
      }
      // Invariants of the constant-feature bookkeeping for the children.
      for (let q = 0; q < nKnown; q++) features[q] = constantFeatures[q] as number;
      for (let q = nKnown; q < nKnown + nFound; q++) constantFeatures[q] = features[q] as number;
      nConstOut = nTotal;
      if (bestFeature < 0 || bestPos >= end) isLeaf = true;
    }
    const node = nodeCount++;
    if (rec.parent >= 0) {
      if (rec.isLeft) left[rec.parent] = node;
      else right[rec.parent] = node;
    }
    if (isLeaf) {
      const seg = idx[0] as Int32Array;
      for (let p = start; p < end; p++) leafOf[seg[p] as number] = node;
      continue;
    }
    feature[node] = bestFeature;
    threshold[node] = bestThreshold;
    const xb = xs[bestFeature] as Float32Array;
    const segB = idx[bestFeature] as Int32Array;
    const mid = bestPos;
    // In the best feature's order the left child is exactly [start, mid).
    const ls = segmentStats(start, mid, segB);
    const rs = segmentStats(mid, end, segB);
    importance[bestFeature]! += nNode * rec.impurity - ls.w * ls.imp - rs.w * rs.imp;
    if (depth + 1 >= maxDepth) {
      // Both children are leaves at the depth limit: label their samples, no need to partition the other features.
      const l = nodeCount++;
      const rr = nodeCount++;
      left[node] = l;
      right[node] = rr;
      for (let p = start; p < mid; p++) leafOf[segB[p] as number] = l;
      for (let p = mid; p < end; p++) leafOf[segB[p] as number] = rr;
      continue;
    }
    // Partition every feature's segment stably: samples at or below the threshold first.
    for (let p = start; p < end; p++) {
      const i = segB[p] as number;
      goLeft[i] = (xb[i] as number) <= bestThreshold ? 1 : 0;
    }
    for (let f = 0; f < d; f++) {
      if (f === bestFeature) continue;
      const seg = idx[f] as Int32Array;
      let a = start;
      let b = 0;
      for (let p = start; p < end; p++) {
        const i = seg[p] as number;
        if (goLeft[i]) seg[a++] = i;
        else tmp[b++] = i;
      }
      seg.set(tmp.subarray(0, b), a);
    }
    const common = { depth: depth + 1, parent: node, nConst: nConstOut };
    stack.push({ ...common, start: mid, end, isLeft: false, impurity: rs.imp });
    stack.push({ ...common, start, end: mid, isLeft: true, impurity: ls.imp });
  }
  // scikit-learn divides a tree's importances by the root's weighted sample count.
  for (let f = 0; f < d; f++) importance[f]! /= n;
  return { tree: { feature, threshold, left, right, value: new Float64Array(maxNodes) }, leafOf, importance, nodeCount };
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
