// The parameter lists of every architecture and of FactorVAE's discriminator, without TensorFlow: the trainer builds
// its variables from them (architecture.ts, factor-vae.ts), and tracking reports parameter counts from a config alone
// (src/tracking/trial-logging.ts runs in the worker process, which never loads tfjs).
//
// Architectures (ModelConfig.architecture):
//   standard   Higgins et al. 2017 App. A.1 / Locatello et al. 2019 Table 1 (see architecture.ts)
//   residual   the same stack with one residual block per resolution inside the encoder (after each stride-2 conv)
//              and inside the decoder (before each transposed conv): y = ReLU(h + conv3x3(h) + b) (He et al. 2016,
//              "Deep Residual Learning", Eq. 1 with an identity shortcut). Skips stay inside encoder or decoder:
//              nothing crosses the bottleneck, so z alone carries the image.
//   attention  the same stack with one self-attention block (Zhang et al. 2019, "Self-Attention Generative
//              Adversarial Networks", Sec. 3, Eq. 1-3) over the mid-resolution feature map of each side (after the
//              second conv of the encoder, after the second transposed conv of the decoder: side/4, 32 channels):
//              1x1 query/key (C/8 channels) and value (C) projections, softmax attention over positions, y = gamma o + x
//              with gamma a learned scalar initialised to 0.
import { ARCHITECTURES, type ArchitectureName as Architecture } from '../contract/types.js';

// Declared once with the sweep spec types (pure), which validate architectures before anything starts.
export { ARCHITECTURES, type Architecture };
export type EncoderKernels = 'higgins' | 'dlib';
export type DecoderKind = 'bernoulli' | 'gaussian';

export interface ArchitectureConfig {
  readonly imageSize: number;
  readonly channels: number;
  readonly latentSize: number;
  readonly encoderKernels: EncoderKernels;
  /** Default 'standard'. */
  readonly architecture?: Architecture;
}

export const SUPPORTED_IMAGE_SIZES: readonly number[] = [32, 64];
export const CONV_FILTERS = [32, 32, 64, 64] as const;
export const DECONV_FILTERS = [64, 32, 32] as const; // then C
export const HIDDEN = 256;
/** Stage after which the attention block sits (0-based): encoder conv1 and decoder deconv1, both side/4 x 32. */
export const ATTENTION_STAGE = 1;

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** fan-in and fan-out for Glorot-uniform initialisation; biases (and SAGAN's gamma) start at zero. */
  readonly init: { kind: 'glorot'; fanIn: number; fanOut: number } | { kind: 'zeros' };
}

/**
 * The Gaussian decoder's default standard deviation: sigma^2 = 1/2 makes 1/2 ((x - mean) / sigma)^2 = (x - mean)^2,
 * disentanglement_lib's l2 loss (losses.ts). Here, without tfjs, so the graph step (src/graph) shares it.
 */
export const DLIB_L2_SIGMA = Math.SQRT1_2;

/** The Gaussian decoder's sigma of a model config: its own `decoderSigma`, else dlib's (DLIB_L2_SIGMA). */
export function gaussianSigma(cfg: { readonly decoderSigma?: number }): number {
  return cfg.decoderSigma ?? DLIB_L2_SIGMA;
}

export function kernelSizes(kind: EncoderKernels): readonly number[] {
  return kind === 'dlib' ? [4, 4, 2, 2] : [4, 4, 4, 4];
}

/** Side of the encoder's last feature map: four stride-2 convolutions. */
export function bottleneckSide(imageSize: number): number {
  return imageSize / 16;
}

function glorot(fanIn: number, fanOut: number): ParamSpec['init'] {
  return { kind: 'glorot', fanIn, fanOut };
}
const zeros: ParamSpec['init'] = { kind: 'zeros' };

/** Query/key channels of an attention block over C channels (SAGAN: C/8). */
export function attentionKeyChannels(c: number): number {
  return Math.max(1, Math.floor(c / 8));
}

function attentionSpecs(prefix: string, c: number): ParamSpec[] {
  const ck = attentionKeyChannels(c);
  return [
    { name: `${prefix}.q.w`, shape: [c, ck], init: glorot(c, ck) },
    { name: `${prefix}.q.b`, shape: [ck], init: zeros },
    { name: `${prefix}.k.w`, shape: [c, ck], init: glorot(c, ck) },
    { name: `${prefix}.k.b`, shape: [ck], init: zeros },
    { name: `${prefix}.v.w`, shape: [c, c], init: glorot(c, c) },
    { name: `${prefix}.v.b`, shape: [c], init: zeros },
    { name: `${prefix}.gamma`, shape: [1], init: zeros },
  ];
}

function residualSpecs(prefix: string, c: number): ParamSpec[] {
  return [
    { name: `${prefix}.w`, shape: [3, 3, c, c], init: glorot(9 * c, 9 * c) },
    { name: `${prefix}.b`, shape: [c], init: zeros },
  ];
}

/**
 * The ordered parameter list: its order is the order of flattened gradients and of checkpoint weights. The standard
 * architecture's list is the one every earlier checkpoint holds; the other architectures insert their layers where
 * they act.
 */
export function paramSpecs(cfg: ArchitectureConfig): ParamSpec[] {
  const arch = cfg.architecture ?? 'standard';
  const specs: ParamSpec[] = [];
  const ks = kernelSizes(cfg.encoderKernels);
  let inC = cfg.channels;
  CONV_FILTERS.forEach((outC, i) => {
    const k = ks[i] as number;
    specs.push({ name: `enc.conv${i}.w`, shape: [k, k, inC, outC], init: glorot(k * k * inC, k * k * outC) });
    specs.push({ name: `enc.conv${i}.b`, shape: [outC], init: zeros });
    if (arch === 'residual') specs.push(...residualSpecs(`enc.res${i}`, outC));
    if (arch === 'attention' && i === ATTENTION_STAGE) specs.push(...attentionSpecs('enc.attn', outC));
    inC = outC;
  });
  const side = bottleneckSide(cfg.imageSize);
  const flat = side * side * 64;
  const L = cfg.latentSize;
  specs.push({ name: 'enc.fc.w', shape: [flat, HIDDEN], init: glorot(flat, HIDDEN) });
  specs.push({ name: 'enc.fc.b', shape: [HIDDEN], init: zeros });
  specs.push({ name: 'enc.out.w', shape: [HIDDEN, 2 * L], init: glorot(HIDDEN, 2 * L) });
  specs.push({ name: 'enc.out.b', shape: [2 * L], init: zeros });
  specs.push({ name: 'dec.fc0.w', shape: [L, HIDDEN], init: glorot(L, HIDDEN) });
  specs.push({ name: 'dec.fc0.b', shape: [HIDDEN], init: zeros });
  specs.push({ name: 'dec.fc1.w', shape: [HIDDEN, flat], init: glorot(HIDDEN, flat) });
  specs.push({ name: 'dec.fc1.b', shape: [flat], init: zeros });
  let c = 64;
  [...DECONV_FILTERS, cfg.channels].forEach((outC, i) => {
    if (arch === 'residual') specs.push(...residualSpecs(`dec.res${i}`, c));
    // conv2dTranspose filters are [h, w, outChannels, inChannels].
    specs.push({ name: `dec.deconv${i}.w`, shape: [4, 4, outC, c], init: glorot(16 * c, 16 * outC) });
    specs.push({ name: `dec.deconv${i}.b`, shape: [outC], init: zeros });
    if (arch === 'attention' && i === ATTENTION_STAGE) specs.push(...attentionSpecs('dec.attn', outC));
    c = outC;
  });
  return specs;
}

/**
 * FactorVAE's discriminator (Kim & Mnih 2018, App. "Architecture"; disentanglement_lib fc_discriminator): `layers`
 * dense layers of `hidden` units with leaky ReLU, then 2 logits (class 0: a code of q(z), class 1: a permuted code).
 */
export function discriminatorSpecs(latentSize: number, hidden: number, layers: number): ParamSpec[] {
  const specs: ParamSpec[] = [];
  let inN = latentSize;
  for (let i = 0; i < layers; i++) {
    specs.push({ name: `disc.fc${i}.w`, shape: [inN, hidden], init: glorot(inN, hidden) });
    specs.push({ name: `disc.fc${i}.b`, shape: [hidden], init: zeros });
    inN = hidden;
  }
  specs.push({ name: 'disc.out.w', shape: [inN, 2], init: glorot(inN, 2) });
  specs.push({ name: 'disc.out.b', shape: [2], init: zeros });
  return specs;
}

export function paramCount(specs: readonly ParamSpec[]): number {
  return specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

/** What a model config trains, counted: the encoder/decoder and, for factor-vae, the discriminator. */
export interface ParamCounts {
  readonly total: number;
  readonly encoderDecoder: number;
  readonly discriminator: number;
}

/** Parameter counts from a (resolved or partial) model config; channels default to 1. */
export function modelParamCounts(m: {
  readonly variant?: string;
  readonly architecture?: Architecture | string;
  readonly imageSize?: number;
  readonly channels?: number;
  readonly latentSize?: number;
  readonly encoderKernels?: EncoderKernels | string;
  readonly factorVae?: { readonly hidden?: number; readonly layers?: number };
}): ParamCounts {
  const latentSize = m.latentSize ?? 10;
  const encoderDecoder = paramCount(
    paramSpecs({
      imageSize: m.imageSize ?? 64,
      channels: m.channels ?? 1,
      latentSize,
      encoderKernels: m.encoderKernels === 'dlib' ? 'dlib' : 'higgins',
      architecture: (ARCHITECTURES as readonly string[]).includes(m.architecture ?? '') ? (m.architecture as Architecture) : 'standard',
    }),
  );
  // disentanglement_lib's fc_discriminator: 6 x 1000 (config.ts DEFAULT_FACTOR_VAE)
  const discriminator =
    m.variant === 'factor-vae' ? paramCount(discriminatorSpecs(latentSize, m.factorVae?.hidden ?? 1000, m.factorVae?.layers ?? 6)) : 0;
  return { total: encoderDecoder + discriminator, encoderDecoder, discriminator };
}
