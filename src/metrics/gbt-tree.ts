// One regression tree of gradient boosting, grown as scikit-learn's DecisionTreeRegressor(criterion='friedman_mse')
// grows it inside `GradientBoostingClassifier` (Friedman 2001, "Greedy Function Approximation", the least-squares
// tree on the negative gradient, split by Friedman's improvement score). Depth first, features visited in
// the order scikit-learn's splitter draws them (its xorshift replayed here), so equally good splits break the same way
// for the same seed. The boosting around it (stages, priors, Newton leaf values) is gbt.ts.
import type { NumpyRandomState } from './numpy-random.js';

export interface Tree {
  feature: Int32Array; // -1 for leaves
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  value: Float64Array;
}

// scikit-learn's tree constants: values closer than FEATURE_THRESHOLD are not split apart; nodes with impurity at or
// below EPSILON are leaves.
const FEATURE_THRESHOLD = 1e-7;
const EPSILON = 2.220446049250313e-16;

export interface TreeBuild {
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
export function growTree(
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
