// numpy's legacy `RandomState` (MT19937, Matsumoto & Nishimura 1998) as far as the metrics need it, so that the
// random tie-breaking of scikit-learn's trees can follow `np.random.seed(s)` exactly: `np.random.seed(s)` then
// `randint(0, high)` (masked rejection sampling on 32-bit draws). This is the reference's random stream, used only
// to reproduce its choices; the project's own sampling uses src/random.ts.

const N = 624;
const M = 397;

export class NumpyRandomState {
  private readonly mt = new Uint32Array(N);
  private pos = N;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(`numpy seeds are integers in [0, 2**32 - 1], got ${seed}`);
    }
    let s = seed >>> 0;
    for (let i = 0; i < N; i++) {
      this.mt[i] = s;
      s = (Math.imul(1812433253, (s ^ (s >>> 30)) >>> 0) + i + 1) >>> 0;
    }
    this.pos = N;
  }

  /** Next 32-bit output of MT19937 (genrand_int32). */
  uint32(): number {
    const mt = this.mt;
    if (this.pos >= N) {
      let i = 0;
      for (; i < N - M; i++) {
        const y = ((mt[i] as number) & 0x80000000) | ((mt[i + 1] as number) & 0x7fffffff);
        mt[i] = (mt[i + M] as number) ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      for (; i < N - 1; i++) {
        const y = ((mt[i] as number) & 0x80000000) | ((mt[i + 1] as number) & 0x7fffffff);
        mt[i] = (mt[i + M - N] as number) ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      const y = ((mt[N - 1] as number) & 0x80000000) | ((mt[0] as number) & 0x7fffffff);
      mt[N - 1] = (mt[M - 1] as number) ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      this.pos = 0;
    }
    let y = mt[this.pos++] as number;
    y ^= y >>> 11;
    y = (y ^ ((y << 7) & 0x9d2c5680)) >>> 0;
    y = (y ^ ((y << 15) & 0xefc60000)) >>> 0;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `randint(low, high)` for a range below 2**32 (numpy's legacy masked rejection sampling). */
  randint(low: number, high: number): number {
    const range = high - low - 1;
    if (range < 0 || range > 0xfffffffe) throw new RangeError(`randint range [${low}, ${high}) is not supported`);
    if (range === 0) return low;
    let mask = range;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let v: number;
    do v = (this.uint32() & mask) >>> 0;
    while (v > range);
    return low + v;
  }
}
