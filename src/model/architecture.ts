// The standard convolutional encoder/decoder of the beta-VAE literature, with explicit variables and plain tf ops.
//
// Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework" (ICLR),
// Appendix A.1 (dSprites), and Locatello et al. 2019, "Challenging Common Assumptions in the Unsupervised Learning of
// Disentangled Representations" (ICML), Table 1:
//   encoder: 4 x conv 4x4 stride 2 (32, 32, 64, 64 filters, ReLU) -> dense 256 ReLU -> dense 2L (mean, log-variance)
//   decoder: dense 256 ReLU -> dense 4*4*64 ReLU -> 4 x transposed conv 4x4 stride 2 (64, 32, 32, C), logits
// Encoder kernels 'dlib' = 4, 4, 2, 2 as disentanglement_lib's `conv_encoder` (kernel sizes of its four conv layers).
//
// Layout NHWC (TensorFlow's native CPU layout; the dataset's HWC images need no transpose). Padding 'same': with a 4x4
// kernel and stride 2 that pads 1 on each side, as PyTorch's padding=1 in the reference benchmark.
// Image size 32: the same four stride-2 convolutions, so the bottleneck is 2x2x64 (dense 256 -> 2*2*64 in the
// decoder); every layer keeps its role and the parameter list has the same structure for both sizes.
//
// Why explicit variables rather than tf.layers: the parameter list is one ordered array, so flattening gradients for
// the all-reduce, checkpointing (raw float32 in a fixed order) and deterministic initialisation from our Rng are
// direct; and a step issues only the ops below (bench/train.ts measures it against PyTorch and Keras).
import { Rng } from '../random.js';
import { biasActivation } from './native-ops.js';
import { tf, type Tensor, type Variable } from './tf.js';

export type EncoderKernels = 'higgins' | 'dlib';
export type DecoderKind = 'bernoulli' | 'gaussian';

export interface ArchitectureConfig {
  readonly imageSize: number;
  readonly channels: number;
  readonly latentSize: number;
  readonly encoderKernels: EncoderKernels;
}

export const SUPPORTED_IMAGE_SIZES: readonly number[] = [32, 64];
const CONV_FILTERS = [32, 32, 64, 64] as const;
const DECONV_FILTERS = [64, 32, 32] as const; // then C
const HIDDEN = 256;

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** fan-in and fan-out for Glorot-uniform initialisation; biases start at zero. */
  readonly init: { kind: 'glorot'; fanIn: number; fanOut: number } | { kind: 'zeros' };
}

export function kernelSizes(kind: EncoderKernels): readonly number[] {
  return kind === 'dlib' ? [4, 4, 2, 2] : [4, 4, 4, 4];
}

/** Side of the encoder's last feature map: four stride-2 convolutions. */
export function bottleneckSide(imageSize: number): number {
  return imageSize / 16;
}

/** The ordered parameter list: its order is the order of flattened gradients and of checkpoint weights. */
export function paramSpecs(cfg: ArchitectureConfig): ParamSpec[] {
  const specs: ParamSpec[] = [];
  const ks = kernelSizes(cfg.encoderKernels);
  let inC = cfg.channels;
  CONV_FILTERS.forEach((outC, i) => {
    const k = ks[i] as number;
    specs.push({ name: `enc.conv${i}.w`, shape: [k, k, inC, outC], init: glorot(k * k * inC, k * k * outC) });
    specs.push({ name: `enc.conv${i}.b`, shape: [outC], init: { kind: 'zeros' } });
    inC = outC;
  });
  const side = bottleneckSide(cfg.imageSize);
  const flat = side * side * 64;
  const L = cfg.latentSize;
  specs.push({ name: 'enc.fc.w', shape: [flat, HIDDEN], init: glorot(flat, HIDDEN) });
  specs.push({ name: 'enc.fc.b', shape: [HIDDEN], init: { kind: 'zeros' } });
  specs.push({ name: 'enc.out.w', shape: [HIDDEN, 2 * L], init: glorot(HIDDEN, 2 * L) });
  specs.push({ name: 'enc.out.b', shape: [2 * L], init: { kind: 'zeros' } });
  specs.push({ name: 'dec.fc0.w', shape: [L, HIDDEN], init: glorot(L, HIDDEN) });
  specs.push({ name: 'dec.fc0.b', shape: [HIDDEN], init: { kind: 'zeros' } });
  specs.push({ name: 'dec.fc1.w', shape: [HIDDEN, flat], init: glorot(HIDDEN, flat) });
  specs.push({ name: 'dec.fc1.b', shape: [flat], init: { kind: 'zeros' } });
  let c = 64;
  [...DECONV_FILTERS, cfg.channels].forEach((outC, i) => {
    // conv2dTranspose filters are [h, w, outChannels, inChannels].
    specs.push({ name: `dec.deconv${i}.w`, shape: [4, 4, outC, c], init: glorot(16 * c, 16 * outC) });
    specs.push({ name: `dec.deconv${i}.b`, shape: [outC], init: { kind: 'zeros' } });
    c = outC;
  });
  return specs;
}

function glorot(fanIn: number, fanOut: number): ParamSpec['init'] {
  return { kind: 'glorot', fanIn, fanOut };
}

export function paramCount(specs: readonly ParamSpec[]): number {
  return specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

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

/** The encoder/decoder's variables, in paramSpecs order, and the forward passes over them. */
export class ConvVae {
  readonly specs: readonly ParamSpec[];
  readonly params: readonly Variable[];
  private readonly ks: readonly number[];
  private readonly side: number;

  constructor(
    readonly arch: ArchitectureConfig,
    seed: number,
    /** Bias + ReLU as one native kernel with native gradients (default); false = plain tfjs ops (bench/train.ts). */
    private readonly fused = true,
  ) {
    this.specs = paramSpecs(arch);
    const init = initialValues(this.specs, seed);
    // tidy: the initial-value tensors are released once the variables hold their data (variables survive tidy).
    this.params = tf.tidy(() =>
      this.specs.map((s, i) =>
        tf.variable(tf.tensor(init[i] as Float32Array, [...s.shape], 'float32'), true, `${s.name}#${uniqueId()}`),
      ),
    );
    this.ks = kernelSizes(arch.encoderKernels);
    this.side = bottleneckSide(arch.imageSize);
  }

  private p(i: number): Variable {
    return this.params[i] as Variable;
  }

  /** conv 'same', then bias (+ ReLU) as one native kernel (native-ops.ts), or separate tfjs ops when fused is off. */
  private conv(x: tf.Tensor4D, i: number, stride: number, relu: boolean): tf.Tensor4D {
    return this.tail(tf.conv2d(x, this.p(i) as tf.Tensor4D, stride, 'same'), i + 1, relu);
  }

  private dense(x: tf.Tensor2D, i: number, relu: boolean): tf.Tensor2D {
    return this.tail(tf.matMul(x, this.p(i) as tf.Tensor2D), i + 1, relu);
  }

  /** + bias of parameter i, then ReLU if asked. */
  private tail<T extends Tensor>(y: T, i: number, relu: boolean): T {
    const b = this.p(i);
    if (this.fused) return biasActivation(y, b, relu);
    const z = tf.add(y, b) as T;
    return relu ? (tf.relu(z) as T) : z;
  }

  /** x: [B, H, W, C] in [0, 1] -> mean and log-variance, each [B, L]. */
  encode(x: Tensor): { mu: Tensor; logvar: Tensor } {
    let h = x as tf.Tensor4D;
    for (let i = 0; i < 4; i++) h = this.conv(h, 2 * i, 2, true);
    const flat = h.reshape([h.shape[0], -1]) as tf.Tensor2D;
    const out = this.dense(this.dense(flat, 8, true), 10, false);
    const L = this.arch.latentSize;
    const [mu, logvar] = tf.split(out, [L, L], 1) as [Tensor, Tensor];
    return { mu, logvar };
  }

  /** z: [B, L] -> decoder output [B, H, W, C] (Bernoulli logits, or the Gaussian mean's pre-sigmoid value). */
  decode(z: Tensor): Tensor {
    const b = z.shape[0] as number;
    const h1 = this.dense(this.dense(z as tf.Tensor2D, 12, true), 14, true);
    let h = h1.reshape([b, this.side, this.side, 64]) as tf.Tensor4D;
    let side = this.side;
    for (let i = 0; i < 4; i++) {
      const w = this.p(16 + 2 * i) as tf.Tensor4D;
      side *= 2;
      h = this.tail(tf.conv2dTranspose(h, w, [b, side, side, w.shape[2]], 2, 'same'), 17 + 2 * i, i < 3);
    }
    return h;
  }

  /** Assigns flat values (paramSpecs order, concatenated) to the variables. */
  assignFlat(flat: Float32Array): void {
    let off = 0;
    for (const v of this.params) {
      const n = v.size;
      if (off + n > flat.length) throw new Error(`parameter vector too short: ${flat.length} values`);
      tf.tidy(() => v.assign(tf.tensor(flat.subarray(off, off + n), v.shape, 'float32')));
      off += n;
    }
    if (off !== flat.length) throw new Error(`parameter vector has ${flat.length} values, the model needs ${off}`);
  }

  /** All parameters as one Float32Array (reads back from the device). */
  readFlat(): Float32Array {
    return readFlat(this.params);
  }

  dispose(): void {
    for (const v of this.params) v.dispose();
  }
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
