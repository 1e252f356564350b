// Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization", Algorithm 1), written out so its whole state
// (m, v, t) is ours to checkpoint and restore bit for bit. Update as PyTorch's torch.optim.Adam (the reference):
//   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// Optional global-norm clipping first (Pascanu et al. 2013): g <- g * min(1, clip / ||g||), computed on the device.
import { tf, type Tensor, type Variable } from '../model/tf.js';

export interface AdamConfig {
  readonly learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** Global gradient-norm limit; 0 or undefined disables clipping. */
  readonly clipNorm?: number;
}

export class Adam {
  private readonly m: Variable[];
  private readonly v: Variable[];
  /** Number of updates applied so far (Adam's t). */
  t = 0;

  constructor(
    readonly params: readonly Variable[],
    readonly cfg: AdamConfig,
  ) {
    this.m = tf.tidy(() => params.map((p) => tf.variable(tf.zerosLike(p), false)));
    this.v = tf.tidy(() => params.map((p) => tf.variable(tf.zerosLike(p), false)));
  }

  /** One update with `grads` (same order as params). Does not dispose grads. */
  apply(grads: readonly Tensor[]): void {
    if (grads.length !== this.params.length) {
      throw new Error(`Adam.apply: ${grads.length} gradients for ${this.params.length} parameters`);
    }
    this.t += 1;
    const { learningRate: lr, beta1: b1, beta2: b2, epsilon: eps, clipNorm } = this.cfg;
    const bc1 = 1 - b1 ** this.t;
    const bc2 = Math.sqrt(1 - b2 ** this.t);
    tf.tidy(() => {
      let gs: readonly Tensor[] = grads;
      if (clipNorm !== undefined && clipNorm > 0) {
        const sq = tf.addN(grads.map((g) => tf.sum(tf.square(g))));
        const scale = tf.minimum(1, tf.div(clipNorm, tf.add(tf.sqrt(sq), 1e-12)));
        gs = grads.map((g) => tf.mul(g, scale));
      }
      const stepSize = tf.scalar(lr / bc1);
      const b1s = tf.scalar(b1);
      const b1c = tf.scalar(1 - b1);
      const b2s = tf.scalar(b2);
      const b2c = tf.scalar(1 - b2);
      const bc2s = tf.scalar(bc2);
      const epss = tf.scalar(eps);
      gs.forEach((g, i) => {
        const m = this.m[i] as Variable;
        const v = this.v[i] as Variable;
        const p = this.params[i] as Variable;
        const m1 = tf.add(tf.mul(m, b1s), tf.mul(g, b1c));
        const v1 = tf.add(tf.mul(v, b2s), tf.mul(tf.square(g), b2c));
        m.assign(m1);
        v.assign(v1);
        const denom = tf.add(tf.div(tf.sqrt(v1), bc2s), epss);
        p.assign(tf.sub(p, tf.mul(tf.div(m1, denom), stepSize)));
      });
    });
  }

  /** Moment estimates, flattened in parameter order (device reads). */
  state(): { m: Tensor[]; v: Tensor[]; t: number } {
    return { m: this.m, v: this.v, t: this.t };
  }

  restore(m: Float32Array, v: Float32Array, t: number): void {
    assignFlat(this.m, m, 'Adam m');
    assignFlat(this.v, v, 'Adam v');
    this.t = t;
  }

  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose();
  }
}

export function assignFlat(vars: readonly Variable[], flat: Float32Array, what: string): void {
  const total = vars.reduce((n, v) => n + v.size, 0);
  if (total !== flat.length) throw new Error(`${what}: ${flat.length} values for ${total} parameters`);
  let off = 0;
  for (const v of vars) {
    const n = v.size;
    tf.tidy(() => v.assign(tf.tensor(flat.subarray(off, off + n), v.shape, 'float32')));
    off += n;
  }
}
