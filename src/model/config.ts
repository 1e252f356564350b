// Model configuration: JSON-serialisable, validated with messages that name the offending field.
import { ARCHITECTURES, SUPPORTED_IMAGE_SIZES, type Architecture, type DecoderKind, type EncoderKernels } from './param-specs.js';

// The variant list is declared once, with the sweep spec types (pure, so workflow code can validate specs too).
import { MODEL_VARIANTS, type ModelVariant } from '../contract/types.js';

export { MODEL_VARIANTS, type ModelVariant };

/** Burgess et al. 2018: gamma * |KL - C|, C rising linearly from 0 to cMax over `steps` steps. */
export interface CapacityConfig {
  readonly gamma: number;
  readonly cMax: number;
  readonly steps: number;
}

/** Kulkarni et al. 2015 clamped training. */
export interface DcignConfig {
  /** Factor (name or index, as a string key) -> latent indices that represent it. Default: i-th varying factor -> latent i. */
  readonly assignment?: Readonly<Record<string, readonly number[]>>;
  /** 'mean' (the paper): clamp to the batch mean, gradient = invarianceScale * deviation; 'first-sample' (authors'
   * Torch code without force_invariance): clamp to sample 0, zero gradient. */
  readonly clamp: 'mean' | 'first-sample';
  /** Scale of the invariance gradient; default 1 / batch, i.e. the gradient of 1/(2B) sum_i ||z_i - mean||^2. */
  readonly invarianceScale?: number;
}

/** Zhao et al. 2017 InfoVAE: recon + (1 - alpha) KL + (alpha + lambda - 1) MMD. */
export interface MmdConfig {
  readonly kernel: 'imq' | 'rbf';
  readonly lambda: number;
  readonly alpha: number;
}

/**
 * Kim & Mnih 2018 FactorVAE (factor-vae.ts): recon + KL + gamma * TC, TC estimated by a discriminator on permuted
 * codes that trains alongside with its own Adam. Defaults: disentanglement_lib's shared.gin / fc_discriminator.
 */
export interface FactorVaeConfig {
  readonly gamma: number;
  /** Discriminator: `layers` fully connected layers of `hidden` units, leaky ReLU (slope 0.2), 2 logits. */
  readonly hidden: number;
  readonly layers: number;
  /** The discriminator's own Adam (disentanglement_lib: lr 1e-4, beta1 0.5, beta2 0.9, eps 1e-8). */
  readonly learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
}

/** Kumar et al. 2018 DIP-VAE (dip-vae.ts): recon + KL + lambdaOd * sum offdiag^2 + lambdaD * sum (diag - 1)^2. */
export interface DipConfig {
  readonly lambdaOd: number;
  /** lambda_d = lambdaDFactor * lambdaOd, as disentanglement_lib parameterises it. */
  readonly lambdaDFactor: number;
}

export interface ModelConfig {
  readonly variant: ModelVariant;
  /** Encoder/decoder family (architecture.ts): the standard conv stack, with residual blocks, or with self-attention. */
  readonly architecture: Architecture;
  /**
   * KL weight for beta-vae and dcign (1 = plain VAE), total-correlation weight for beta-tcvae; ignored by the others
   * (annealed-vae: capacity.gamma, factor-vae: factorVae.gamma, dip-vae-*: dip, info-vae: mmd).
   */
  readonly beta: number;
  readonly latentSize: number;
  readonly imageSize: number;
  /** Image channels; taken from the dataset when absent. */
  readonly channels?: number;
  readonly encoderKernels: EncoderKernels;
  readonly decoder: DecoderKind;
  /** Gaussian decoder's fixed standard deviation. */
  readonly decoderSigma?: number;
  readonly capacity?: CapacityConfig;
  readonly dcign?: DcignConfig;
  readonly mmd?: MmdConfig;
  readonly factorVae?: FactorVaeConfig;
  readonly dip?: DipConfig;
}

export const DEFAULT_CAPACITY: CapacityConfig = { gamma: 1000, cMax: 25, steps: 100_000 };
export const DEFAULT_DCIGN: DcignConfig = { clamp: 'mean' };
export const DEFAULT_MMD: MmdConfig = { kernel: 'imq', lambda: 1000, alpha: 1 };
// disentanglement_lib unsupervised_study_v1: factor_vae.gamma in {10, 20, 30, 40, 50, 100} (the first as default);
// discriminator Adam from its shared.gin; fc_discriminator: 6 x 1000, leaky ReLU.
export const DEFAULT_FACTOR_VAE: FactorVaeConfig = { gamma: 10, hidden: 1000, layers: 6, learningRate: 1e-4, beta1: 0.5, beta2: 0.9 };
// dip_vae.lambda_od in {1, 2, 5, 10, 20, 50} (the first as default); lambda_d_factor 10 for DIP-VAE-I, 1 for -II.
export const DEFAULT_DIP_I: DipConfig = { lambdaOd: 1, lambdaDFactor: 10 };
export const DEFAULT_DIP_II: DipConfig = { lambdaOd: 1, lambdaDFactor: 1 };

export const DEFAULT_MODEL: ModelConfig = {
  variant: 'beta-vae',
  architecture: 'standard',
  beta: 4,
  latentSize: 10,
  imageSize: 64,
  encoderKernels: 'higgins',
  decoder: 'bernoulli',
};

/** A configuration error; `field` is the dotted path of the offending field (e.g. "model.beta"). */
export class ConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`invalid config: ${field} ${message}`);
    this.name = 'ConfigError';
  }
}

/** Fills the variant's defaults (capacity, dcign, mmd) and validates; throws ConfigError naming the field. */
export function resolveModelConfig(input: Partial<ModelConfig>, prefix = 'model'): ModelConfig {
  const cfg: ModelConfig = { ...DEFAULT_MODEL, ...input };
  const f = (name: string): string => `${prefix}.${name}`;
  if (!(MODEL_VARIANTS as readonly string[]).includes(cfg.variant)) {
    throw new ConfigError(f('variant'), `is unknown: '${String(cfg.variant)}' (known: ${MODEL_VARIANTS.join(', ')})`);
  }
  if (!(ARCHITECTURES as readonly string[]).includes(cfg.architecture)) {
    throw new ConfigError(f('architecture'), `is unknown: '${String(cfg.architecture)}' (known: ${ARCHITECTURES.join(', ')})`);
  }
  finite(cfg.beta, f('beta'));
  if (cfg.beta < 0) throw new ConfigError(f('beta'), `must be >= 0, got ${cfg.beta}`);
  positiveInt(cfg.latentSize, f('latentSize'));
  if (!SUPPORTED_IMAGE_SIZES.includes(cfg.imageSize)) {
    throw new ConfigError(f('imageSize'), `must be one of ${SUPPORTED_IMAGE_SIZES.join(', ')}, got ${cfg.imageSize}`);
  }
  if (cfg.channels !== undefined) positiveInt(cfg.channels, f('channels'));
  if (cfg.encoderKernels !== 'higgins' && cfg.encoderKernels !== 'dlib') {
    throw new ConfigError(f('encoderKernels'), `must be 'higgins' (4,4,4,4) or 'dlib' (4,4,2,2), got '${String(cfg.encoderKernels)}'`);
  }
  if (cfg.decoder !== 'bernoulli' && cfg.decoder !== 'gaussian') {
    throw new ConfigError(f('decoder'), `must be 'bernoulli' or 'gaussian', got '${String(cfg.decoder)}'`);
  }
  if (cfg.decoderSigma !== undefined) {
    finite(cfg.decoderSigma, f('decoderSigma'));
    if (cfg.decoderSigma <= 0) throw new ConfigError(f('decoderSigma'), `must be > 0, got ${cfg.decoderSigma}`);
  }
  let out: ModelConfig = cfg;
  if (cfg.variant === 'annealed-vae') {
    const c: CapacityConfig = { ...DEFAULT_CAPACITY, ...cfg.capacity };
    nonNegative(c.gamma, f('capacity.gamma'));
    nonNegative(c.cMax, f('capacity.cMax'));
    positiveInt(c.steps, f('capacity.steps'));
    out = { ...out, capacity: c };
  }
  if (cfg.variant === 'dcign') {
    const d: DcignConfig = { ...DEFAULT_DCIGN, ...cfg.dcign };
    if (d.clamp !== 'mean' && d.clamp !== 'first-sample') {
      throw new ConfigError(f('dcign.clamp'), `must be 'mean' or 'first-sample', got '${String(d.clamp)}'`);
    }
    if (d.invarianceScale !== undefined) nonNegative(d.invarianceScale, f('dcign.invarianceScale'));
    for (const [factor, latents] of Object.entries(d.assignment ?? {})) {
      const field = f(`dcign.assignment.${factor}`);
      if (!Array.isArray(latents) || latents.length === 0) throw new ConfigError(field, 'must be a non-empty array of latent indices');
      for (const l of latents) {
        if (!Number.isInteger(l) || l < 0 || l >= cfg.latentSize) {
          throw new ConfigError(field, `has latent index ${String(l)} outside [0, ${cfg.latentSize})`);
        }
      }
    }
    out = { ...out, dcign: d };
  }
  if (cfg.variant === 'info-vae') {
    const m: MmdConfig = { ...DEFAULT_MMD, ...cfg.mmd };
    if (m.kernel !== 'imq' && m.kernel !== 'rbf') {
      throw new ConfigError(f('mmd.kernel'), `must be 'imq' or 'rbf', got '${String(m.kernel)}'`);
    }
    nonNegative(m.lambda, f('mmd.lambda'));
    finite(m.alpha, f('mmd.alpha'));
    if (m.alpha > 1) throw new ConfigError(f('mmd.alpha'), `must be <= 1 (the KL weight is 1 - alpha), got ${m.alpha}`);
    out = { ...out, mmd: m };
  }
  if (cfg.variant === 'factor-vae') {
    const fv: FactorVaeConfig = { ...DEFAULT_FACTOR_VAE, ...cfg.factorVae };
    nonNegative(fv.gamma, f('factorVae.gamma'));
    positiveInt(fv.hidden, f('factorVae.hidden'));
    positiveInt(fv.layers, f('factorVae.layers'));
    finite(fv.learningRate, f('factorVae.learningRate'));
    if (fv.learningRate <= 0) throw new ConfigError(f('factorVae.learningRate'), `must be > 0, got ${fv.learningRate}`);
    for (const k of ['beta1', 'beta2'] as const) {
      if (typeof fv[k] !== 'number' || !(fv[k] >= 0 && fv[k] < 1)) throw new ConfigError(f(`factorVae.${k}`), `must be in [0, 1), got ${String(fv[k])}`);
    }
    out = { ...out, factorVae: fv };
  }
  if (cfg.variant === 'dip-vae-i' || cfg.variant === 'dip-vae-ii') {
    const d: DipConfig = { ...(cfg.variant === 'dip-vae-i' ? DEFAULT_DIP_I : DEFAULT_DIP_II), ...cfg.dip };
    nonNegative(d.lambdaOd, f('dip.lambdaOd'));
    nonNegative(d.lambdaDFactor, f('dip.lambdaDFactor'));
    out = { ...out, dip: d };
  }
  return out;
}

function finite(v: unknown, field: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(field, `must be a finite number, got ${String(v)}`);
}
function nonNegative(v: unknown, field: string): void {
  finite(v, field);
  if ((v as number) < 0) throw new ConfigError(field, `must be >= 0, got ${String(v)}`);
}
function positiveInt(v: unknown, field: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new ConfigError(field, `must be a positive integer, got ${String(v)}`);
  }
}

/**
 * The fields a model config may have, and those of its nested sections: what a spec's `model` section or a run
 * config file may set. Unknown keys are refused with this list (rejectUnknownKeys), as everywhere in a spec.
 */
export const MODEL_CONFIG_FIELDS: Readonly<Record<string, readonly string[]>> = {
  '': ['variant', 'architecture', 'beta', 'latentSize', 'imageSize', 'channels', 'encoderKernels', 'decoder', 'decoderSigma', 'capacity', 'dcign', 'mmd', 'factorVae', 'dip'],
  capacity: ['gamma', 'cMax', 'steps'],
  dcign: ['assignment', 'clamp', 'invarianceScale'],
  mmd: ['kernel', 'lambda', 'alpha'],
  factorVae: ['gamma', 'hidden', 'layers', 'learningRate', 'beta1', 'beta2'],
  dip: ['lambdaOd', 'lambdaDFactor'],
};

/** Throws ConfigError naming the first unknown field of `obj` (at `prefix`) and the allowed ones. */
export function rejectUnknownKeys(obj: Readonly<Record<string, unknown>>, allowed: readonly string[], prefix: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) throw new ConfigError(prefix ? `${prefix}.${k}` : k, `is not a known field; allowed: ${allowed.join(', ')}`);
  }
}

/** rejectUnknownKeys over a model section and its nested sections (capacity, dcign, mmd, factorVae, dip). */
export function rejectUnknownModelKeys(model: Readonly<Record<string, unknown>>, prefix = 'model'): void {
  rejectUnknownKeys(model, MODEL_CONFIG_FIELDS[''] ?? [], prefix);
  for (const [section, fields] of Object.entries(MODEL_CONFIG_FIELDS)) {
    const v = model[section];
    if (section !== '' && typeof v === 'object' && v !== null && !Array.isArray(v)) rejectUnknownKeys(v as Record<string, unknown>, fields, `${prefix}.${section}`);
  }
}
