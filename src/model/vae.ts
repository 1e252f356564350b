// One VAE-family model: the standard encoder/decoder (architecture.ts), the ELBO (losses.ts), and the variant's
// regulariser or batch treatment, chosen by name:
//   beta-vae      Higgins et al. 2017, Eq. 4: recon + beta * KL
//   annealed-vae  Burgess et al. 2018, "Understanding disentangling in beta-VAE" (arXiv:1804.03599), Eq. 8:
//                 recon + gamma * |KL - C|, C = cMax * min(1, step / steps)
//   dcign         Kulkarni et al. 2015 (dcign.ts): recon + beta * KL on clamped codes; plain VAE for unlabelled batches
//   info-vae      Zhao et al. 2017 (mmd.ts): recon + (1 - alpha) KL + (alpha + lambda - 1) MMD
//   factor-vae    Kim & Mnih 2018, Eq. 2 (factor-vae.ts): recon + KL + gamma * TC, TC from a discriminator trained
//                 alongside (its parameters follow the encoder/decoder's in `params`, a second Adam group)
//   beta-tcvae    Chen et al. 2018 (beta-tcvae.ts): recon + KL + (beta - 1) * TC, TC by minibatch-weighted sampling
//   dip-vae-i/ii  Kumar et al. 2018, Eq. 6 / 7 (dip-vae.ts): recon + KL + lambda_od sum offdiag^2 + lambda_d sum (diag-1)^2
// Every variant runs on every architecture (ModelConfig.architecture, param-specs.ts).
//
// Noise: eps for the sample at global index g (Batch.globalIndices) is latentSize standard normals drawn in order from
// Rng(mixSeed(seed, EPS_SALT, g)); InfoVAE's prior sample for g from Rng(mixSeed(seed, PRIOR_SALT, g)). g already
// counts steps (g = step * globalBatch + i), so noise depends only on (seed, sample) and data-parallel replicas
// together draw exactly the noise of one replica with the whole batch. FactorVAE's permutation: factor-vae.ts.
import { mixSeed, Rng } from '../random.js';
import { assignFlat, ConvVae, readFlat, type ParamSpec } from './architecture.js';
import { betaTcRegulariser } from './beta-tcvae.js';
import type { ModelConfig } from './config.js';
import { dcignClamp, freeMaskFor, localClampTarget, resolveAssignment } from './dcign.js';
import { dipRegulariser } from './dip-vae.js';
import { Discriminator, factorVaeTerms } from './factor-vae.js';
import { elboParts, gaussianSigma, reparameterise } from './losses.js';
import { mmd } from './mmd.js';
import { paramCount, type ParamCounts } from './param-specs.js';
import { tf, type Tensor, type Variable } from './tf.js';

export const EPS_SALT = 0x3e95;
export const PRIOR_SALT = 0x9a10;
/** Salt of the discriminator's initialisation seed (FactorVAE). */
export const DISC_SALT = 0xd15c;

/** A run of consecutive parameters with their own optimiser settings (absent: the trainer's). */
export interface ParamGroup {
  readonly name: string;
  readonly count: number;
  readonly adam?: { readonly learningRate: number; readonly beta1: number; readonly beta2: number };
}

/** Everything about one batch the loss needs beside the images. */
export interface StepInputs {
  /** [B, H, W, C] images in [0, 1]. */
  readonly x: Tensor;
  /** [B, L] standard normal noise (see noiseFor). */
  readonly eps: Tensor;
  /** Optimiser step (annealed capacity). */
  readonly step: number;
  /** DCIGN: the factor that alone varies in this batch. */
  readonly variedFactor?: number;
  /** InfoVAE: [B, L] prior samples (see noiseFor with PRIOR_SALT). */
  readonly prior?: Tensor;
  /** FactorVAE: int32 [B * L] permute_dims gather indices (factor-vae.ts permutationIndices). */
  readonly permutation?: Tensor;
  /**
   * DCIGN: the clamp target of the whole global batch, [2, L] (mean row, log-variance row) for clampAt 'params',
   * [1, L] for 'z' (the all-reduced clampContribution, dcign.ts); absent: this batch's own (one replica).
   */
  readonly clampTarget?: Tensor;
}

/** The loss and its parts, all tensors owned by the caller (or the enclosing tidy). */
export interface LossParts {
  readonly total: Tensor;
  readonly recon: Tensor;
  readonly kl: Tensor;
  readonly klPerDim: Tensor;
  /** The variant's regulariser as it enters the total (beta * KL, gamma * |KL - C|, ...). */
  readonly regulariser: Tensor;
  readonly mmd?: Tensor;
  /** Total-correlation estimate (factor-vae: the discriminator's; beta-tcvae: minibatch-weighted sampling). */
  readonly tc?: Tensor;
  /** DIP-VAE's covariance penalty (lambda-weighted). */
  readonly dip?: Tensor;
  /** FactorVAE: the discriminator's own loss, minimised for its parameters only (not part of `total`). */
  readonly discriminatorLoss?: Tensor;
  /** Annealed capacity C at this step. */
  readonly capacity?: number;
  /** The code the decoder saw (DCIGN: with the clamp applied). */
  readonly z: Tensor;
}

/** Standard normals for each global sample index: row i of the result belongs to globalIndices[i]. */
export function noiseFor(seed: number, salt: number, globalIndices: readonly number[], latentSize: number): Float32Array {
  const out = new Float32Array(globalIndices.length * latentSize);
  globalIndices.forEach((g, i) => {
    const rng = new Rng(mixSeed(seed, salt, g));
    for (let l = 0; l < latentSize; l++) out[i * latentSize + l] = rng.normal();
  });
  return out;
}

export interface VaeModelOptions {
  /** The dataset's factors (for the DCIGN assignment by name); required for the dcign variant. */
  readonly factors?: readonly { readonly name: string; readonly size: number }[];
  /** Image channels when the config leaves them out. */
  readonly channels?: number;
  /** Bias + ReLU as one native kernel (native-ops.ts; default true); false = plain tfjs ops (bench/train.ts). */
  readonly fused?: boolean;
}

export class VaeModel {
  readonly net: ConvVae;
  /** FactorVAE's discriminator (absent for the other variants). */
  readonly discriminator: Discriminator | undefined;
  /** Every trained parameter: the encoder/decoder's, then the discriminator's; the order of gradients and checkpoints. */
  readonly params: readonly Variable[];
  readonly specs: readonly ParamSpec[];
  readonly groups: readonly ParamGroup[];
  /** DCIGN: the latents of each factor, by factor index (undefined for the other variants). */
  readonly assignment: (readonly number[])[] | undefined;

  constructor(
    readonly config: ModelConfig,
    seed: number,
    opts: VaeModelOptions = {},
  ) {
    const channels = config.channels ?? opts.channels ?? 1;
    this.net = new ConvVae(
      {
        imageSize: config.imageSize,
        channels,
        latentSize: config.latentSize,
        encoderKernels: config.encoderKernels,
        architecture: config.architecture ?? 'standard',
      },
      seed,
      opts.fused ?? true,
    );
    const fv = config.factorVae;
    this.discriminator =
      config.variant === 'factor-vae' && fv !== undefined
        ? new Discriminator(config.latentSize, fv.hidden, fv.layers, mixSeed(seed, DISC_SALT))
        : undefined;
    if (config.variant === 'factor-vae' && this.discriminator === undefined) {
      throw new Error('the factor-vae variant needs model.factorVae (resolveModelConfig fills it)');
    }
    const d = this.discriminator;
    this.params = d === undefined ? this.net.params : [...this.net.params, ...d.params];
    this.specs = d === undefined ? this.net.specs : [...this.net.specs, ...d.specs];
    this.groups =
      d === undefined || fv === undefined
        ? [{ name: 'vae', count: this.net.params.length }]
        : [
            { name: 'vae', count: this.net.params.length },
            { name: 'discriminator', count: d.params.length, adam: { learningRate: fv.learningRate, beta1: fv.beta1, beta2: fv.beta2 } },
          ];
    if (config.variant === 'dcign') {
      if (opts.factors === undefined) throw new Error('the dcign variant needs the dataset factors (VaeModelOptions.factors)');
      this.assignment = resolveAssignment(config.dcign ?? { clamp: 'mean' }, opts.factors, config.latentSize);
    }
  }

  /** Parameter counts: the encoder/decoder, the discriminator, and both. */
  paramCounts(): ParamCounts {
    const encoderDecoder = paramCount(this.net.specs);
    const discriminator = this.discriminator === undefined ? 0 : paramCount(this.discriminator.specs);
    return { total: encoderDecoder + discriminator, encoderDecoder, discriminator };
  }

  /** All parameters (params order) as one Float32Array: a device read. */
  readFlat(): Float32Array {
    return readFlat(this.params);
  }

  /** Assigns all parameters from one flat vector (params order). */
  assignFlat(flat: Float32Array): void {
    assignFlat(this.params, flat);
  }

  /** Annealed capacity at `step` (Burgess et al. 2018). */
  capacityAt(step: number): number {
    const c = this.config.capacity;
    if (c === undefined) return 0;
    return c.cMax * Math.min(1, step / c.steps);
  }

  /** Forward pass and loss. Call inside tf.tidy / tf.variableGrads. */
  loss(inp: StepInputs): LossParts {
    const cfg = this.config;
    const enc = this.net.encode(inp.x);
    let { mu, logvar } = enc;
    let z: Tensor;
    const clamp = this.clampOf(inp);
    if (clamp !== undefined && clamp.at === 'params') {
      const [tMu, tLv] = inp.clampTarget === undefined ? [undefined, undefined] : tf.split(inp.clampTarget, 2, 0);
      mu = dcignClamp(mu, clamp.free, clamp.mode, clamp.scale, tMu);
      logvar = dcignClamp(logvar, clamp.free, clamp.mode, clamp.scale, tLv);
      z = reparameterise(mu, logvar, inp.eps);
    } else {
      z = reparameterise(mu, logvar, inp.eps);
      if (clamp !== undefined) z = dcignClamp(z, clamp.free, clamp.mode, clamp.scale, inp.clampTarget);
    }
    const out = this.net.decode(z);
    const parts = { ...elboParts(inp.x, out, mu, logvar, cfg.decoder, gaussianSigma(cfg)), z };
    switch (cfg.variant) {
      case 'beta-vae':
      case 'dcign': {
        const regulariser = tf.mul(parts.kl, cfg.beta);
        return { ...parts, regulariser, total: tf.add(parts.recon, regulariser) };
      }
      case 'annealed-vae': {
        const c = this.capacityAt(inp.step);
        const gamma = cfg.capacity?.gamma ?? 1;
        const regulariser = tf.mul(tf.abs(tf.sub(parts.kl, c)), gamma);
        return { ...parts, regulariser, total: tf.add(parts.recon, regulariser), capacity: c };
      }
      case 'info-vae': {
        if (inp.prior === undefined) throw new Error('info-vae needs prior samples (StepInputs.prior)');
        const m = cfg.mmd ?? { kernel: 'imq', lambda: 1000, alpha: 1 };
        const dist = mmd(z, inp.prior, m.kernel);
        const regulariser = tf.add(tf.mul(parts.kl, 1 - m.alpha), tf.mul(dist, m.alpha + m.lambda - 1));
        return { ...parts, regulariser, total: tf.add(parts.recon, regulariser), mmd: dist };
      }
      case 'factor-vae': {
        if (inp.permutation === undefined || this.discriminator === undefined) {
          throw new Error('factor-vae needs the permute_dims indices (StepInputs.permutation)');
        }
        const t = factorVaeTerms(this.discriminator, parts.kl, z, inp.permutation, cfg.factorVae?.gamma ?? 10);
        return { ...parts, ...t, total: tf.add(parts.recon, t.regulariser) };
      }
      case 'beta-tcvae': {
        const t = betaTcRegulariser(parts.kl, z, mu, logvar, cfg.beta);
        return { ...parts, ...t, total: tf.add(parts.recon, t.regulariser) };
      }
      case 'dip-vae-i':
      case 'dip-vae-ii': {
        const d = cfg.dip ?? { lambdaOd: 1, lambdaDFactor: cfg.variant === 'dip-vae-i' ? 10 : 1 };
        const t = dipRegulariser(parts.kl, mu, logvar, cfg.variant === 'dip-vae-i' ? 'i' : 'ii', d.lambdaOd, d.lambdaDFactor);
        return { ...parts, regulariser: t.regulariser, dip: t.penalty, total: tf.add(parts.recon, t.regulariser) };
      }
    }
  }

  /** DCIGN: how this batch is clamped (undefined: another variant, or a batch with no varied factor). */
  private clampOf(inp: StepInputs): { free: Tensor; mode: 'mean' | 'first-sample'; at: 'params' | 'z'; scale: number } | undefined {
    const cfg = this.config;
    if (cfg.variant !== 'dcign' || inp.variedFactor === undefined || this.assignment === undefined) return undefined;
    const d = cfg.dcign ?? { clamp: 'mean' };
    const free = tf.tensor2d(freeMaskFor(this.assignment, inp.variedFactor, cfg.latentSize), [1, cfg.latentSize]);
    return { free, mode: d.clamp, at: d.clampAt ?? 'params', scale: d.invarianceScale ?? 1 / (inp.x.shape[0] as number) };
  }

  /** DCIGN: the [L] 0/1 mask of latents left free in a batch varying `variedFactor` (all free when undefined). */
  freeMask(variedFactor: number | undefined): Float32Array {
    const L = this.config.latentSize;
    if (this.assignment === undefined || variedFactor === undefined) return new Float32Array(L).fill(1);
    return freeMaskFor(this.assignment, variedFactor, L);
  }

  /**
   * DCIGN: this batch's own clamp target, [2, L] (mean, log-variance) for clampAt 'params' or [1, L] for 'z'
   * (caller disposes): what a replica contributes to the global batch's target (dcign.ts clampContribution).
   */
  localClampTarget(x: Tensor, eps: Tensor): Tensor {
    const d = this.config.dcign ?? { clamp: 'mean' };
    return tf.tidy(() => {
      const { mu, logvar } = this.net.encode(x);
      if ((d.clampAt ?? 'params') === 'z') return localClampTarget(reparameterise(mu, logvar, eps), d.clamp);
      return tf.concat([localClampTarget(mu, d.clamp), localClampTarget(logvar, d.clamp)], 0);
    });
  }

  /** Encoder means for metrics and traversals: images [B, H, W, C] -> [B, L] (caller disposes). */
  encodeMean(x: Tensor): Tensor {
    return tf.tidy(() => this.net.encode(x).mu);
  }

  dispose(): void {
    this.net.dispose();
    this.discriminator?.dispose();
  }
}
