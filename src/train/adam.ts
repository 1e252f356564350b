// Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization", Algorithm 1), written out so its whole state
// (m, v, t) is ours to checkpoint and restore bit for bit. Update as PyTorch's torch.optim.Adam (the reference):
//   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// Optional global-norm clipping first (Pascanu et al. 2013): g <- g * min(1, clip / ||g||), computed on the device.
//
// The moments live in two flat variables (parameters concatenated in order, the checkpoint layout): the update is a
// handful of ops over one vector instead of a dozen per parameter tensor, which matters because every tfjs op has a
// fixed dispatch cost (bench/train.ts). Element-wise, the arithmetic is the same as per-tensor Adam.
//
// Parameter groups (FactorVAE's discriminator has its own Adam: Kim & Mnih 2018, disentanglement_lib's shared.gin):
// consecutive runs of parameters with their own learning rate and betas. The moments stay one flat vector each (the
// checkpoint layout and the all-reduce's), every group steps at every update (one t), and clipping applies per group.
// With one group the update is the ops above, unchanged.
import { tf, type Tensor, type Variable } from '../model/tf.js';

export interface AdamConfig {
  readonly learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** Global gradient-norm limit; 0 or undefined disables clipping. */
  readonly clipNorm?: number;
}

/** `count` consecutive parameters; `adam` overrides learning rate and betas for them. */
export interface AdamGroup {
  readonly count: number;
  readonly adam?: { readonly learningRate: number; readonly beta1: number; readonly beta2: number };
}

export class Adam {
  private readonly m: Variable;
  private readonly v: Variable;
  private readonly sizes: number[];
  /** Per group: element count, and its settings. */
  private readonly groups: { size: number; cfg: AdamConfig }[];
  /** Number of updates applied so far (Adam's t). */
  t = 0;

  constructor(
    readonly params: readonly Variable[],
    readonly cfg: AdamConfig,
    groups: readonly AdamGroup[] = [{ count: params.length }],
  ) {
    this.sizes = params.map((p) => p.size);
    const n = this.sizes.reduce((a, b) => a + b, 0);
    if (groups.reduce((a, g) => a + g.count, 0) !== params.length) {
      throw new Error(`Adam: parameter groups cover ${groups.reduce((a, g) => a + g.count, 0)} of ${params.length} parameters`);
    }
    let first = 0;
    this.groups = groups.map((g) => {
      const size = this.sizes.slice(first, first + g.count).reduce((a, b) => a + b, 0);
      first += g.count;
      return { size, cfg: g.adam === undefined ? cfg : { ...cfg, ...g.adam } };
    });
    this.m = tf.tidy(() => tf.variable(tf.zeros([n]), false));
    this.v = tf.tidy(() => tf.variable(tf.zeros([n]), false));
  }

  /** One update with `grads` (same order and shapes as params). Does not dispose grads. */
  apply(grads: readonly Tensor[]): void {
    if (grads.length !== this.params.length) {
      throw new Error(`Adam.apply: ${grads.length} gradients for ${this.params.length} parameters`);
    }
    tf.tidy(() => this.applyFlat(tf.concat(grads.map((g) => tf.reshape(g, [-1])))));
  }

  /** One update with the gradient as one flat vector in parameter order (the all-reduce's layout). */
  applyFlat(flatGrad: Tensor): void {
    this.t += 1;
    const t = this.t;
    tf.tidy(() => {
      if (this.groups.length === 1) {
        const { m1, v1, update } = groupStep(flatGrad, this.m, this.v, this.cfg, t);
        this.m.assign(m1);
        this.v.assign(v1);
        this.assignUpdate(update);
        return;
      }
      const sizes = this.groups.map((g) => g.size);
      const gs = tf.split(flatGrad, sizes);
      const ms = tf.split(this.m, sizes);
      const vs = tf.split(this.v, sizes);
      const steps = this.groups.map((g, i) => groupStep(gs[i] as Tensor, ms[i] as Tensor, vs[i] as Tensor, g.cfg, t));
      this.m.assign(tf.concat(steps.map((s) => s.m1)));
      this.v.assign(tf.concat(steps.map((s) => s.v1)));
      this.assignUpdate(tf.concat(steps.map((s) => s.update)));
    });
  }

  private assignUpdate(update: Tensor): void {
    const parts = tf.split(update, this.sizes);
    this.params.forEach((p, i) => p.assign(tf.sub(p, tf.reshape(parts[i] as Tensor, p.shape))));
  }

  /** Moment estimates, flat in parameter order. */
  state(): { m: Tensor; v: Tensor; t: number } {
    return { m: this.m, v: this.v, t: this.t };
  }

  restore(m: Float32Array, v: Float32Array, t: number): void {
    const n = this.m.size;
    if (m.length !== n || v.length !== n) throw new Error(`Adam state holds ${m.length}/${v.length} values for ${n} parameters`);
    tf.tidy(() => {
      this.m.assign(tf.tensor1d(m));
      this.v.assign(tf.tensor1d(v));
    });
    this.t = t;
  }

  dispose(): void {
    this.m.dispose();
    this.v.dispose();
  }
}

/** One group's Adam arithmetic on flat vectors (inside the caller's tidy): new moments and the update to subtract. */
function groupStep(flatGrad: Tensor, m: Tensor, v: Tensor, cfg: AdamConfig, t: number): { m1: Tensor; v1: Tensor; update: Tensor } {
  const { learningRate: lr, beta1: b1, beta2: b2, epsilon: eps, clipNorm } = cfg;
  const bc1 = 1 - b1 ** t;
  const bc2 = Math.sqrt(1 - b2 ** t);
  let g = flatGrad;
  if (clipNorm !== undefined && clipNorm > 0) {
    const norm = tf.sqrt(tf.sum(tf.square(g)));
    g = tf.mul(g, tf.minimum(1, tf.div(clipNorm, tf.add(norm, 1e-12))));
  }
  const m1 = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
  const v1 = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
  const update = tf.mul(tf.div(m1, tf.add(tf.div(tf.sqrt(v1), bc2), eps)), lr / bc1);
  return { m1, v1, update };
}
