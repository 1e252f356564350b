// Linear support vector classifier on one feature, as scikit-learn's `LinearSVC(C, class_weight='balanced')` fits it
// through liblinear: squared hinge loss, L2 penalty, the intercept fitted as an extra constant feature of value 1 and
// regularised like the weight, one-vs-rest for more than two classes. Used by the SAP score, which fits one
// classifier per (code, factor) pair on the single code.
//
// The problem per class is min_v 0.5|v|^2 + sum_i C_i max(0, 1 - y_i v.(x_i, 1))^2 with v = (w, b): convex and
// piecewise quadratic in two unknowns, so a generalised Newton method with a backtracking line search reaches the
// exact optimum in a handful of steps (liblinear stops earlier, at a relative gradient norm of 1e-4; the scores it
// feeds change by at most one test prediction, see the conformance README).
import { denseLabels, MetricInputError } from './utils.js';

export interface LinearSvc1d {
  /** Sorted class labels. */
  classes: number[];
  /** Per classifier (one for two classes, else one per class): weight and intercept. */
  w: Float64Array;
  b: Float64Array;
}

/**
 * Solves one binary problem: labels sign[i] in {+1, -1}, per-sample costs cost[i].
 * Returns [w, b].
 */
function solveBinary(x: Float64Array, sign: Int8Array, cost: Float64Array): [number, number] {
  const n = x.length;
  let w = 0;
  let b = 0;
  const objective = (ww: number, bb: number): number => {
    let f = 0.5 * (ww * ww + bb * bb);
    for (let i = 0; i < n; i++) {
      const m = 1 - (sign[i] as number) * (ww * (x[i] as number) + bb);
      if (m > 0) f += (cost[i] as number) * m * m;
    }
    return f;
  };
  let f = objective(w, b);
  let g0 = -1;
  for (let iter = 0; iter < 500; iter++) {
    // Gradient and generalised Hessian over the margin violators.
    let gw = w;
    let gb = b;
    let hww = 1;
    let hwb = 0;
    let hbb = 1;
    for (let i = 0; i < n; i++) {
      const s = sign[i] as number;
      const xi = x[i] as number;
      const m = 1 - s * (w * xi + b);
      if (m > 0) {
        const c = cost[i] as number;
        gw -= 2 * c * m * s * xi;
        gb -= 2 * c * m * s;
        hww += 2 * c * xi * xi;
        hwb += 2 * c * xi;
        hbb += 2 * c;
      }
    }
    const gnorm = Math.hypot(gw, gb);
    if (g0 < 0) g0 = gnorm;
    if (gnorm <= 1e-13 * Math.max(g0, 1)) break;
    const det = hww * hbb - hwb * hwb;
    const dw = -(hbb * gw - hwb * gb) / det;
    const db = -(hww * gb - hwb * gw) / det;
    const slope = gw * dw + gb * db;
    let step = 1;
    let accepted = false;
    for (let ls = 0; ls < 60; ls++) {
      const nw = w + step * dw;
      const nb = b + step * db;
      const nf = objective(nw, nb);
      if (nf <= f + 1e-4 * step * slope) {
        w = nw;
        b = nb;
        f = nf;
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted) break;
    if (Math.abs(step * dw) <= 1e-15 * (1 + Math.abs(w)) && Math.abs(step * db) <= 1e-15 * (1 + Math.abs(b))) break;
  }
  return [w, b];
}

/** Fits a one-feature LinearSVC with balanced class weights (scikit-learn semantics, liblinear solver model). */
export function fitLinearSvc1d(x: Float64Array, labels: ArrayLike<number>, C = 0.01): LinearSvc1d {
  const n = x.length;
  if (labels.length !== n) throw new MetricInputError(`LinearSVC: ${n} samples but ${labels.length} labels`);
  const { labels: y, count: k, values: classes } = denseLabels(labels);
  if (k < 2) throw new MetricInputError(`LinearSVC: the labels take a single value (${classes[0]})`);
  const counts = new Float64Array(k);
  for (let i = 0; i < n; i++) counts[y[i] as number]! += 1;
  // class_weight='balanced': n / (n_classes * count_c).
  const classWeight = Array.from(counts, (c) => n / (k * c));
  const sign = new Int8Array(n);
  const cost = new Float64Array(n);
  if (k === 2) {
    // liblinear's two-class problem: both classes carry their weighted C; the second class is the positive one.
    for (let i = 0; i < n; i++) {
      const c = y[i] as number;
      sign[i] = c === 1 ? 1 : -1;
      cost[i] = C * (classWeight[c] as number);
    }
    const [w, b] = solveBinary(x, sign, cost);
    return { classes, w: Float64Array.of(w), b: Float64Array.of(b) };
  }
  // One-vs-rest as liblinear's train(): the positive class gets its weighted C, the rest the plain C.
  const w = new Float64Array(k);
  const b = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    const cp = C * (classWeight[c] as number);
    for (let i = 0; i < n; i++) {
      const pos = y[i] === c;
      sign[i] = pos ? 1 : -1;
      cost[i] = pos ? cp : C;
    }
    const [wc, bc] = solveBinary(x, sign, cost);
    w[c] = wc;
    b[c] = bc;
  }
  return { classes, w, b };
}

/** Predicted labels: the sign of the decision value for two classes, else the argmax (first on ties). */
export function predictLinearSvc1d(model: LinearSvc1d, x: Float64Array): Float64Array {
  const out = new Float64Array(x.length);
  const k = model.classes.length;
  for (let i = 0; i < x.length; i++) {
    const xi = x[i] as number;
    if (k === 2) {
      out[i] = (model.w[0] as number) * xi + (model.b[0] as number) > 0 ? (model.classes[1] as number) : (model.classes[0] as number);
      continue;
    }
    let best = 0;
    let bestV = -Infinity;
    for (let c = 0; c < k; c++) {
      const v = (model.w[c] as number) * xi + (model.b[c] as number);
      if (v > bestV) {
        bestV = v;
        best = c;
      }
    }
    out[i] = model.classes[best] as number;
  }
  return out;
}
