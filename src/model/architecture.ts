// The standard convolutional encoder/decoder of the beta-VAE literature, with explicit variables and plain tf ops.
//
// Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework" (ICLR),
// Appendix A.1 (dSprites), encoder kernels 'higgins' (the default):
//   encoder: 4 x conv 4x4 stride 2 (32, 32, 64, 64 filters, ReLU) -> dense 256 ReLU -> dense 2L (mean, log-variance)
//   decoder: dense 256 ReLU -> dense 4*4*64 ReLU -> 4 x transposed conv 4x4 stride 2 (64, 32, 32, C), logits
// Encoder kernels 'dlib' = 4, 4, 2, 2: disentanglement_lib's `conv_encoder`, Locatello et al. 2019, "Challenging
// Common Assumptions in the Unsupervised Learning of Disentangled Representations" (ICML), Table 1; the rest as above.
// A spec that claims dlib parity sets `encoderKernels: dlib` (test/sweep/dlib-parity.test.ts).
//
// Layout NHWC (TensorFlow's native CPU layout; the dataset's HWC images need no transpose). Padding 'same': with a 4x4
// kernel and stride 2 that pads 1 on each side, as PyTorch's padding=1 in the reference benchmark.
// Image size 32: the same four stride-2 convolutions, so the bottleneck is 2x2x64 (dense 256 -> 2*2*64 in the
// decoder); every layer keeps its role and the parameter list has the same structure for both sizes.
//
// Residual and attention variants of the same stack: param-specs.ts (the parameter lists, without tfjs).
//
// Why explicit variables rather than tf.layers: the parameter list is one ordered array, so flattening gradients for
// the all-reduce, checkpointing (raw float32 in a fixed order) and deterministic initialisation from our Rng are
// direct; and a step issues only the ops below (bench/train.ts measures it against PyTorch and Keras).
import { Rng } from '../random.js';
import { biasActivation } from './native-ops.js';
import {
  ATTENTION_STAGE,
  attentionKeyChannels,
  bottleneckSide,
  paramSpecs,
  type ArchitectureConfig,
  type ParamSpec,
} from './param-specs.js';
import { tf, type Tensor, type Variable } from './tf.js';

export * from './param-specs.js';

/** Initial values of every parameter, from Rng(seed) in spec order: identical on every machine and replica. */
export function initialValues(specs: readonly ParamSpec[], seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return specs.map((s) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    if (s.init.kind === 'glorot') {
      const limit = Math.sqrt(6 / (s.init.fanIn + s.init.fanOut));
      for (let i = 0; i < n; i++) out[i] = (2 * rng.float() - 1) * limit;
    }
    return out;
  });
}

/** Variables for `specs`, initialised from Rng(seed) in spec order (variables survive the tidy; the values do not). */
export function makeVariables(specs: readonly ParamSpec[], seed: number): Variable[] {
  const init = initialValues(specs, seed);
  return tf.tidy(() =>
    specs.map((s, i) => tf.variable(tf.tensor(init[i] as Float32Array, [...s.shape], 'float32'), true, `${s.name}#${uniqueId()}`)),
  );
}

/** The encoder/decoder's variables, in paramSpecs order, and the forward passes over them. */
export class ConvVae {
  readonly specs: readonly ParamSpec[];
  readonly params: readonly Variable[];
  readonly architecture: NonNullable<ArchitectureConfig['architecture']>;
  private readonly byName: ReadonlyMap<string, Variable>;
  private readonly side: number;

  constructor(
    readonly arch: ArchitectureConfig,
    seed: number,
    /** Bias + ReLU as one native kernel with native gradients (default); false = plain tfjs ops (bench/train.ts). */
    private readonly fused = true,
  ) {
    this.specs = paramSpecs(arch);
    this.params = makeVariables(this.specs, seed);
    this.byName = new Map(this.specs.map((s, i) => [s.name, this.params[i] as Variable]));
    this.architecture = arch.architecture ?? 'standard';
    this.side = bottleneckSide(arch.imageSize);
  }

  private p(name: string): Variable {
    const v = this.byName.get(name);
    if (v === undefined) throw new Error(`no parameter ${name} in the ${this.architecture} architecture`);
    return v;
  }

  /** conv 'same' with parameter `<name>.w`, then bias `<name>.b` (+ ReLU) as one native kernel. */
  private conv(x: tf.Tensor4D, name: string, stride: number, relu: boolean): tf.Tensor4D {
    return this.tail(tf.conv2d(x, this.p(`${name}.w`) as tf.Tensor4D, stride, 'same'), `${name}.b`, relu);
  }

  private dense(x: tf.Tensor2D, name: string, relu: boolean): tf.Tensor2D {
    return this.tail(tf.matMul(x, this.p(`${name}.w`) as tf.Tensor2D), `${name}.b`, relu);
  }

  /** + bias parameter `bias`, then ReLU if asked. */
  private tail<T extends Tensor>(y: T, bias: string, relu: boolean): T {
    const b = this.p(bias);
    if (this.fused) return biasActivation(y, b, relu);
    const z = tf.add(y, b) as T;
    return relu ? (tf.relu(z) as T) : z;
  }

  /** Residual block with an identity shortcut: ReLU(h + conv3x3(h) + b). */
  private residual(h: tf.Tensor4D, name: string): tf.Tensor4D {
    return this.tail(tf.add(h, tf.conv2d(h, this.p(`${name}.w`) as tf.Tensor4D, 1, 'same')), `${name}.b`, true);
  }

  /**
   * SAGAN self-attention over the positions of h [B, H, W, C] (Zhang et al. 2019, Eq. 1-3): q = h Wq + bq and
   * k = h Wk + bk (C/8 channels), v = h Wv + bv (C), attention a = softmax_j(q_i . k_j), o_i = sum_j a_ij v_j,
   * y = gamma * o + h. The 1x1 convolutions are matrix products over the flattened positions.
   */
  private attention(h: tf.Tensor4D, name: string): tf.Tensor4D {
    const [b, hh, ww, c] = h.shape;
    const n = hh * ww;
    const ck = attentionKeyChannels(c);
    const rows = h.reshape([b * n, c]) as tf.Tensor2D;
    const q = this.dense(rows, `${name}.q`, false).reshape([b, n, ck]);
    const k = this.dense(rows, `${name}.k`, false).reshape([b, n, ck]);
    const v = this.dense(rows, `${name}.v`, false).reshape([b, n, c]);
    const a = tf.softmax(tf.matMul(q, k, false, true)); // [B, N, N], rows sum to 1
    const o = tf.matMul(a, v).reshape([b, hh, ww, c]);
    return tf.add(tf.mul(o, this.p(`${name}.gamma`)), h) as tf.Tensor4D;
  }

  /** x: [B, H, W, C] in [0, 1] -> mean and log-variance, each [B, L]. */
  encode(x: Tensor): { mu: Tensor; logvar: Tensor } {
    let h = x as tf.Tensor4D;
    for (let i = 0; i < 4; i++) {
      h = this.conv(h, `enc.conv${i}`, 2, true);
      if (this.architecture === 'residual') h = this.residual(h, `enc.res${i}`);
      if (this.architecture === 'attention' && i === ATTENTION_STAGE) h = this.attention(h, 'enc.attn');
    }
    const flat = h.reshape([h.shape[0], -1]) as tf.Tensor2D;
    const out = this.dense(this.dense(flat, 'enc.fc', true), 'enc.out', false);
    const L = this.arch.latentSize;
    const [mu, logvar] = tf.split(out, [L, L], 1) as [Tensor, Tensor];
    return { mu, logvar };
  }

  /** z: [B, L] -> decoder output [B, H, W, C] (Bernoulli logits, or the Gaussian mean's pre-sigmoid value). */
  decode(z: Tensor): Tensor {
    const b = z.shape[0] as number;
    const h1 = this.dense(this.dense(z as tf.Tensor2D, 'dec.fc0', true), 'dec.fc1', true);
    let h = h1.reshape([b, this.side, this.side, 64]) as tf.Tensor4D;
    let side = this.side;
    for (let i = 0; i < 4; i++) {
      if (this.architecture === 'residual') h = this.residual(h, `dec.res${i}`);
      const w = this.p(`dec.deconv${i}.w`) as tf.Tensor4D;
      side *= 2;
      h = this.tail(tf.conv2dTranspose(h, w, [b, side, side, w.shape[2]], 2, 'same'), `dec.deconv${i}.b`, i < 3);
      if (this.architecture === 'attention' && i === ATTENTION_STAGE) h = this.attention(h, 'dec.attn');
    }
    return h;
  }

  /** Assigns flat values (paramSpecs order, concatenated) to the variables. */
  assignFlat(flat: Float32Array): void {
    assignFlat(this.params, flat);
  }

  /** All parameters as one Float32Array (reads back from the device). */
  readFlat(): Float32Array {
    return readFlat(this.params);
  }

  dispose(): void {
    for (const v of this.params) v.dispose();
  }
}

/** Assigns flat values (concatenated in order) to `vars`; the length must match exactly. */
export function assignFlat(vars: readonly Variable[], flat: Float32Array): void {
  let off = 0;
  for (const v of vars) {
    const n = v.size;
    if (off + n > flat.length) throw new Error(`parameter vector too short: ${flat.length} values`);
    tf.tidy(() => v.assign(tf.tensor(flat.subarray(off, off + n), v.shape, 'float32')));
    off += n;
  }
  if (off !== flat.length) throw new Error(`parameter vector has ${flat.length} values, the model needs ${off}`);
}

let idCounter = 0;
function uniqueId(): number {
  return idCounter++;
}

/** Concatenates tensors' values into one Float32Array (a device read: call at checkpoints and log steps only). */
export function readFlat(tensors: readonly Tensor[]): Float32Array {
  const total = tensors.reduce((n, t) => n + t.size, 0);
  const out = new Float32Array(total);
  let off = 0;
  for (const t of tensors) {
    out.set(t.dataSync() as Float32Array, off);
    off += t.size;
  }
  return out;
}
