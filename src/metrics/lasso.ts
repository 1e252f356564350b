// Lasso regression as scikit-learn 1.9.1's `Lasso(alpha)` fits it, for UDR's Lasso correlation matrix (udr.ts).
// Objective per target y_k: (1 / 2n) |y_k - X w - b|^2 + alpha |w|_1 (Tibshirani 1996), intercept unpenalised (X and
// y centred first). Hand-written rather than solved to the optimum: scikit-learn stops its cyclic coordinate descent
// (Friedman, Hastie & Tibshirani 2010) early, once the duality gap is below tol |y|^2 (tol = 1e-4), and UDR feeds on
// those early coefficients, so we follow its iteration step for step (`enet_coordinate_descent` in
// sklearn/linear_model/_cd_fast.pyx: the same coordinate order, the same gap-safe screening of Fercoq et al. 2015,
// the same stopping tests) to land on the same iterate. The conformance README gives the agreement measured.
import { MetricInputError } from './utils.js';

export interface LassoOptions {
  alpha?: number;
  maxIter?: number;
  tol?: number;
}

export interface LassoFit {
  /** coef[k][j]: weight of feature j for target k (scikit-learn's `coef_` layout). */
  coef: Float64Array[];
  intercept: Float64Array;
  /** Coordinate-descent passes per target. */
  iterations: number[];
}

function centred(cols: readonly ArrayLike<number>[]): { cols: Float64Array[]; means: Float64Array } {
  const means = new Float64Array(cols.length);
  const out = cols.map((c, j) => {
    let s = 0;
    for (let i = 0; i < c.length; i++) s += c[i] as number;
    const m = s / c.length;
    means[j] = m;
    return Float64Array.from(c, (v) => v - m);
  });
  return { cols: out, means };
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/** r += a x */
function axpy(a: number, x: Float64Array, r: Float64Array): void {
  for (let i = 0; i < r.length; i++) r[i]! += a * (x[i] as number);
}

/** Duality gap of the Lasso at w (formulation A of _cd_fast.pyx, beta = 0); writes X'R into xtr. */
function gap(x: readonly Float64Array[], y: Float64Array, r: Float64Array, w: Float64Array, alpha: number, xtr: Float64Array): { gap: number; dualNorm: number } {
  const rNorm2 = dot(r, r);
  const ry = dot(r, y);
  let dualNorm = 0;
  let l1 = 0;
  for (let j = 0; j < x.length; j++) {
    xtr[j] = dot(x[j] as Float64Array, r);
    dualNorm = Math.max(dualNorm, Math.abs(xtr[j] as number));
    l1 += Math.abs(w[j] as number);
  }
  const primal = 0.5 * rNorm2 + alpha * l1;
  const scale = dualNorm > alpha ? alpha / dualNorm : 1;
  const dual = -0.5 * scale * scale * rNorm2 + scale * ry;
  return { gap: primal - dual, dualNorm };
}

/** One target: scikit-learn's cyclic coordinate descent with gap-safe screening, from w = 0. */
function coordinateDescent(x: readonly Float64Array[], y: Float64Array, alpha: number, maxIter: number, tol0: number): { w: Float64Array; iterations: number } {
  const p = x.length;
  const w = new Float64Array(p);
  const norm2 = x.map((c) => dot(c, c));
  const r = Float64Array.from(y);
  const xtr = new Float64Array(p);
  const tol = tol0 * dot(y, y);
  let g = gap(x, y, r, w, alpha, xtr);
  if (g.gap <= tol) return { w, iterations: 0 };
  const excluded = new Uint8Array(p);
  let active: number[] = [];
  // Gap Safe screening (Ndiaye et al. 2017, Eq. 11): a feature whose dual constraint is slack by more than the gap
  // allows is zero at the optimum and is dropped from the passes.
  const screen = (first: boolean): void => {
    active = [];
    for (let j = 0; j < p; j++) {
      if (first && norm2[j] === 0) {
        w[j] = 0;
        excluded[j] = 1;
        continue;
      }
      if (!first && excluded[j]) continue;
      const theta = (xtr[j] as number) / Math.max(alpha, g.dualNorm);
      const d = (1 - Math.abs(theta)) / Math.sqrt(norm2[j] as number);
      if (d <= Math.sqrt(2 * g.gap) / alpha) {
        active.push(j);
        excluded[j] = 0;
      } else {
        if (w[j] !== 0) {
          axpy(w[j] as number, x[j] as Float64Array, r);
          w[j] = 0;
        }
        excluded[j] = 1;
      }
    }
  };
  screen(true);
  let iter = 0;
  for (; iter < maxIter; iter++) {
    let wMax = 0;
    let dwMax = 0;
    for (const j of active) {
      const nj = norm2[j] as number;
      if (nj === 0) continue;
      const wj = w[j] as number;
      const xj = x[j] as Float64Array;
      const tmp = dot(xj, r) + wj * nj;
      const next = (Math.sign(tmp) * Math.max(Math.abs(tmp) - alpha, 0)) / nj;
      w[j] = next;
      if (next !== wj) axpy(wj - next, xj, r);
      dwMax = Math.max(dwMax, Math.abs(next - wj));
      wMax = Math.max(wMax, Math.abs(next));
    }
    if (wMax === 0 || dwMax / wMax <= tol0 || iter === maxIter - 1) {
      g = gap(x, y, r, w, alpha, xtr);
      if (g.gap <= tol) break;
      screen(false);
    }
  }
  return { w, iterations: Math.min(iter + 1, maxIter) };
}

/**
 * Fits `Lasso(alpha).fit(X, Y)` for every column of Y: features and targets are given as columns of equal length.
 * Defaults are scikit-learn's (alpha 1.0, max_iter 1000, tol 1e-4).
 */
export function fitLasso(features: readonly ArrayLike<number>[], targets: readonly ArrayLike<number>[], opts: LassoOptions = {}): LassoFit {
  const alpha = opts.alpha ?? 1;
  if (!(alpha > 0)) throw new MetricInputError(`Lasso: alpha must be > 0, got ${alpha} (alpha = 0 is least squares)`);
  const n = features[0]?.length ?? 0;
  if (n === 0 || features.length === 0 || targets.length === 0) throw new MetricInputError('Lasso: needs at least one sample, one feature and one target');
  if ([...features, ...targets].some((c) => c.length !== n)) throw new MetricInputError('Lasso: every feature and target column must have the same number of samples');
  const X = centred(features);
  const Y = centred(targets);
  const coef: Float64Array[] = [];
  const intercept = new Float64Array(targets.length);
  const iterations: number[] = [];
  Y.cols.forEach((y, k) => {
    // scikit-learn scales the penalty by n rather than dividing the squared loss by it (enet_path: l1_reg = alpha n).
    const { w, iterations: it } = coordinateDescent(X.cols, y, alpha * n, opts.maxIter ?? 1000, opts.tol ?? 1e-4);
    coef.push(w);
    let b = Y.means[k] as number;
    for (let j = 0; j < w.length; j++) b -= (X.means[j] as number) * (w[j] as number);
    intercept[k] = b;
    iterations.push(it);
  });
  return { coef, intercept, iterations };
}
