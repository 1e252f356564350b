// The training step, split so data parallelism can average gradients in between:
//   computeGradients (forward + backward in one tidy) -> [reducer.allReduceMean on the flat vector] -> applyGradients
// Nothing here reads from the device except flattenGradients (only with a reducer) and readScalars (log steps only).
import type { Batch } from '../data/types.js';
import { tf, type Tensor } from '../model/tf.js';
import { permutationIndices } from '../model/factor-vae.js';
import { EPS_SALT, noiseFor, PRIOR_SALT, type LossParts, type VaeModel } from '../model/vae.js';
import type { Adam } from './adam.js';

/** Names of the entries of StepResult.scalars, in order; then kl_0 .. kl_{L-1}. */
export function scalarNames(model: VaeModel): string[] {
  const names = ['loss', 'recon', 'kl', 'regulariser', ...extraNames(model)];
  for (let l = 0; l < model.config.latentSize; l++) names.push(`kl_${l}`);
  return names;
}

/** The variant's own loss parts, in the order they follow the common ones. */
function extraNames(model: VaeModel): string[] {
  switch (model.config.variant) {
    case 'info-vae':
      return ['mmd'];
    case 'factor-vae':
      return ['tc', 'discriminator_loss'];
    case 'beta-tcvae':
      return ['tc'];
    case 'dip-vae-i':
    case 'dip-vae-ii':
      return ['dip'];
    default:
      return [];
  }
}

function extraParts(parts: LossParts): Tensor[] {
  return [parts.mmd, parts.tc, parts.discriminatorLoss, parts.dip].filter((x): x is Tensor => x !== undefined);
}

export interface StepGradients {
  /** One gradient per parameter, in parameter order; owned by the caller (applyGradients disposes them). */
  grads: Tensor[];
  /** Only when asked (log steps): the loss parts as one 1-D tensor in scalarNames order; caller disposes. */
  scalars?: Tensor;
}

/** Batch images and the noise of its samples as tensors (inside the caller's tidy). */
function stepInputs(model: VaeModel, batch: Batch, seed: number): { x: Tensor; eps: Tensor; prior?: Tensor; permutation?: Tensor } {
  const { imageSize, latentSize } = model.config;
  const channels = model.net.arch.channels;
  const x = tf.tensor4d(batch.images, [batch.batchSize, imageSize, imageSize, channels]);
  const eps = tf.tensor2d(noiseFor(seed, EPS_SALT, batch.globalIndices, latentSize), [batch.batchSize, latentSize]);
  if (model.config.variant === 'info-vae') {
    const prior = tf.tensor2d(noiseFor(seed, PRIOR_SALT, batch.globalIndices, latentSize), [batch.batchSize, latentSize]);
    return { x, eps, prior };
  }
  if (model.config.variant === 'factor-vae') {
    const key = batch.globalIndices[0] ?? 0;
    const permutation = tf.tensor1d(permutationIndices(seed, key, batch.batchSize, latentSize), 'int32');
    return { x, eps, permutation };
  }
  return { x, eps };
}

/**
 * Forward and backward. clampTarget (DCIGN with replicas): the global batch's clamp target, flat in the shape of
 * VaeModel.localClampTarget (the all-reduced clampContribution); absent, each batch clamps to its own.
 */
export function computeGradients(model: VaeModel, batch: Batch, step: number, seed: number, keepScalars: boolean, clampTarget?: Float32Array): StepGradients {
  let scalars: Tensor | undefined;
  const grads = tf.tidy(() => {
    const inp = stepInputs(model, batch, seed);
    const L = model.config.latentSize;
    const target = clampTarget === undefined ? undefined : tf.tensor2d(clampTarget, [clampTarget.length / L, L]);
    const { grads: named } = tf.variableGrads(() => {
      const parts = model.loss({
        ...inp,
        step,
        ...(batch.variedFactor === undefined ? {} : { variedFactor: batch.variedFactor }),
        ...(target === undefined ? {} : { clampTarget: target }),
      });
      if (keepScalars) {
        const head = [parts.total, parts.recon, parts.kl, parts.regulariser, ...extraParts(parts)];
        scalars = tf.keep(tf.concat([tf.stack(head), parts.klPerDim]));
      }
      // FactorVAE: the discriminator's loss reaches only the discriminator's parameters (factor-vae.ts), the VAE's
      // only the encoder's and decoder's, so one gradient of their sum is both optimisers' gradients.
      const objective = parts.discriminatorLoss === undefined ? parts.total : tf.add(parts.total, parts.discriminatorLoss);
      return objective as tf.Scalar;
    }, model.params as tf.Variable[]);
    return model.params.map((p) => {
      const g = named[p.name];
      if (g === undefined) throw new Error(`no gradient for parameter ${p.name}`);
      return g;
    });
  });
  return scalars === undefined ? { grads } : { grads, scalars };
}

/** DCIGN: this replica's batch's own clamp target, flat (a device read; replicas only, once per step). */
export function localClampTarget(model: VaeModel, batch: Batch, seed: number): Float32Array {
  const t = tf.tidy(() => {
    const { x, eps } = stepInputs(model, batch, seed);
    return model.localClampTarget(x, eps);
  });
  const out = new Float32Array(t.dataSync() as Float32Array);
  t.dispose();
  return out;
}

/** Gradients as one Float32Array in parameter order (one device read of the concatenation). Does not dispose grads. */
export function flattenGradients(grads: readonly Tensor[]): Float32Array {
  const flat = tf.tidy(() => tf.concat(grads.map((g) => tf.reshape(g, [-1]))));
  // copy: the all-reduce writes into it, and it must not alias memory the backend may reuse
  const out = new Float32Array(flat.dataSync() as Float32Array);
  flat.dispose();
  return out;
}

/** The inverse of flattenGradients, shaped like the parameters. */
export function unflattenGradients(model: VaeModel, flat: Float32Array): Tensor[] {
  let off = 0;
  return model.params.map((p) => {
    const t = tf.tensor(flat.subarray(off, off + p.size), p.shape, 'float32');
    off += p.size;
    return t;
  });
}

/** Adam step with the gradients, then disposes them. */
export function applyGradients(optimizer: Adam, grads: Tensor[]): void {
  try {
    optimizer.apply(grads);
  } finally {
    for (const g of grads) g.dispose();
  }
}

/** Adam step with an already flat (e.g. all-reduced) gradient. */
export function applyFlatGradients(optimizer: Adam, flat: Float32Array): void {
  const g = tf.tensor1d(flat);
  try {
    optimizer.applyFlat(g);
  } finally {
    g.dispose();
  }
}

/** Reads the kept scalars (a device sync: log steps only) and disposes them. */
export function readScalars(model: VaeModel, scalars: Tensor): Record<string, number> {
  const values = scalars.dataSync();
  scalars.dispose();
  return namedScalars(model, values);
}

/** The loss parts in scalarNames order, by name. */
export function namedScalars(model: VaeModel, values: ArrayLike<number>): Record<string, number> {
  const out: Record<string, number> = {};
  scalarNames(model).forEach((n, i) => (out[n] = values[i] as number));
  return out;
}

/** Sum of all parameters (float64 over per-tensor float32 sums): equal on replicas holding equal parameters. */
export function parameterChecksum(model: VaeModel): number {
  const sums = tf.tidy(() => tf.stack(model.params.map((p) => tf.sum(p))));
  const v = sums.dataSync();
  sums.dispose();
  let s = 0;
  for (const x of v) s += x;
  return s;
}
