// Limited-memory BFGS (Nocedal 1980; Liu & Nocedal 1989) for the smooth convex objectives of the metric classifiers.
// A backtracking line search with the Armijo condition suffices for convex problems; pairs with non-positive
// curvature are skipped. Stops when the largest gradient entry falls below gtol or the objective stops moving.

export interface LbfgsOptions {
  maxIter?: number;
  gtol?: number;
  memory?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  iterations: number;
  converged: boolean;
}

/** Minimises fg (which writes the gradient into g and returns the objective) from x0. */
export function lbfgs(
  fg: (x: Float64Array, g: Float64Array) => number,
  x0: Float64Array,
  opts: LbfgsOptions = {},
): LbfgsResult {
  const maxIter = opts.maxIter ?? 1000;
  const gtol = opts.gtol ?? 1e-10;
  const m = opts.memory ?? 10;
  const n = x0.length;
  const x = Float64Array.from(x0);
  const g = new Float64Array(n);
  let f = fg(x, g);
  const sList: Float64Array[] = [];
  const yList: Float64Array[] = [];
  const rho: number[] = [];
  const d = new Float64Array(n);
  const xNew = new Float64Array(n);
  const gNew = new Float64Array(n);
  const alpha = new Float64Array(m);
  let iterations = 0;
  let converged = false;
  let flat = 0;
  const maxAbs = (v: Float64Array): number => {
    let a = 0;
    for (let i = 0; i < v.length; i++) a = Math.max(a, Math.abs(v[i] as number));
    return a;
  };
  for (; iterations < maxIter; iterations++) {
    if (maxAbs(g) <= gtol) {
      converged = true;
      break;
    }
    // Two-loop recursion: d = -H g.
    for (let i = 0; i < n; i++) d[i] = -(g[i] as number);
    const k = sList.length;
    for (let j = k - 1; j >= 0; j--) {
      const s = sList[j] as Float64Array;
      let a = 0;
      for (let i = 0; i < n; i++) a += (s[i] as number) * (d[i] as number);
      a *= rho[j] as number;
      alpha[j] = a;
      const y = yList[j] as Float64Array;
      for (let i = 0; i < n; i++) d[i]! -= a * (y[i] as number);
    }
    if (k > 0) {
      const s = sList[k - 1] as Float64Array;
      const y = yList[k - 1] as Float64Array;
      let sy = 0;
      let yy = 0;
      for (let i = 0; i < n; i++) {
        sy += (s[i] as number) * (y[i] as number);
        yy += (y[i] as number) * (y[i] as number);
      }
      const gamma = sy / yy;
      for (let i = 0; i < n; i++) d[i]! *= gamma;
    }
    for (let j = 0; j < k; j++) {
      const y = yList[j] as Float64Array;
      let bta = 0;
      for (let i = 0; i < n; i++) bta += (y[i] as number) * (d[i] as number);
      bta *= rho[j] as number;
      const s = sList[j] as Float64Array;
      const a = alpha[j] as number;
      for (let i = 0; i < n; i++) d[i]! += (a - bta) * (s[i] as number);
    }
    let slope = 0;
    for (let i = 0; i < n; i++) slope += (g[i] as number) * (d[i] as number);
    if (!(slope < 0)) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      sList.length = 0;
      yList.length = 0;
      rho.length = 0;
      slope = 0;
      for (let i = 0; i < n; i++) {
        d[i] = -(g[i] as number);
        slope -= (g[i] as number) * (g[i] as number);
      }
    }
    let step = k === 0 ? Math.min(1, 1 / Math.sqrt(-slope)) : 1;
    let fNew = f;
    let ok = false;
    for (let ls = 0; ls < 60; ls++) {
      for (let i = 0; i < n; i++) xNew[i] = (x[i] as number) + step * (d[i] as number);
      fNew = fg(xNew, gNew);
      if (Number.isFinite(fNew) && fNew <= f + 1e-4 * step * slope) {
        ok = true;
        break;
      }
      step *= 0.5;
    }
    if (!ok) break;
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    let sy = 0;
    for (let i = 0; i < n; i++) {
      s[i] = (xNew[i] as number) - (x[i] as number);
      y[i] = (gNew[i] as number) - (g[i] as number);
      sy += (s[i] as number) * (y[i] as number);
    }
    const decrease = f - fNew;
    x.set(xNew);
    g.set(gNew);
    f = fNew;
    if (sy > 1e-300) {
      sList.push(s);
      yList.push(y);
      rho.push(1 / sy);
      if (sList.length > m) {
        sList.shift();
        yList.shift();
        rho.shift();
      }
    }
    flat = decrease <= 1e-16 * Math.max(1, Math.abs(f)) ? flat + 1 : 0;
    if (flat >= 3) {
      converged = true;
      break;
    }
  }
  return { x, f, iterations, converged };
}
