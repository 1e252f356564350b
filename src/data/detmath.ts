// Deterministic trigonometry for the image generators. Math.sin/Math.cos are not required by the ECMAScript
// specification to be correctly rounded, so two engines (or two versions of one) may differ in the last bit and a
// pixel on a shape's edge may flip. These use only +, -, *, / and Math.floor/Math.round, which IEEE 754 defines
// exactly, so the same inputs give the same bits on every machine.

const TWO_PI = 2 * Math.PI;
const HALF_PI = Math.PI / 2;

/** sin(x) for |x| <= pi/4 by its Taylor series up to x^17 (truncation error below 1e-16 on that interval). */
function sinKernel(x: number): number {
  const x2 = x * x;
  let p = 1 / 355687428096000; // 1/17!
  p = -1 / 1307674368000 + x2 * p; // 1/15!
  p = 1 / 6227020800 + x2 * p; // 1/13!
  p = -1 / 39916800 + x2 * p; // 1/11!
  p = 1 / 362880 + x2 * p; // 1/9!
  p = -1 / 5040 + x2 * p; // 1/7!
  p = 1 / 120 + x2 * p; // 1/5!
  p = -1 / 6 + x2 * p; // 1/3!
  return x + x * x2 * p;
}

/** cos(x) for |x| <= pi/4 by its Taylor series up to x^18. */
function cosKernel(x: number): number {
  const x2 = x * x;
  let p = 1 / 6402373705728000; // 1/18!
  p = 1 / 20922789888000 - x2 * p; // 1/16!
  p = 1 / 87178291200 - x2 * p; // 1/14!
  p = 1 / 479001600 - x2 * p; // 1/12!
  p = 1 / 3628800 - x2 * p; // 1/10!
  p = 1 / 40320 - x2 * p; // 1/8!
  p = 1 / 720 - x2 * p; // 1/6!
  p = 1 / 24 - x2 * p; // 1/4!
  p = 0.5 - x2 * p; // 1/2!
  return 1 - x2 * p;
}

function quadrantValue(quadrant: number, r: number): number {
  switch (((quadrant % 4) + 4) % 4) {
    case 0:
      return sinKernel(r);
    case 1:
      return cosKernel(r);
    case 2:
      return -sinKernel(r);
    default:
      return -cosKernel(r);
  }
}

/** Deterministic sine: reduces to [-pi/4, pi/4] by quarter turns, then a fixed polynomial. */
export function dsin(x: number): number {
  const q = Math.round(x / HALF_PI);
  return quadrantValue(q, x - q * HALF_PI);
}

/** Deterministic cosine, see dsin. */
export function dcos(x: number): number {
  const q = Math.round(x / HALF_PI);
  return quadrantValue(q + 1, x - q * HALF_PI);
}

/** `count` values evenly spaced over [0, 2*pi), the last one short of a full turn. */
export function turnGrid(count: number): number[] {
  return Array.from({ length: count }, (_, i) => (TWO_PI * i) / count);
}

/** `count` values evenly spaced over [lo, hi], both ends included. */
export function linearGrid(lo: number, hi: number, count: number): number[] {
  if (count === 1) return [lo];
  return Array.from({ length: count }, (_, i) => lo + ((hi - lo) * i) / (count - 1));
}
