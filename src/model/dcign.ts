// DCIGN clamped training: Kulkarni, Whitney, Kohli & Tenenbaum 2015, "Deep Convolutional Inverse Graphics Network"
// (NIPS), Sec. 3.1 "Training procedure": each minibatch varies one generative factor; the latents assigned to it
// stay free, all other latents are clamped to their average over the batch in the forward pass, and in the backward
// pass their gradient is replaced by their difference from that average, which trains them to be invariant to the
// varied factor.
//
// Where it applies (DcignConfig.clampAt): by default ('params') to the encoder's distribution parameters, mean and
// log-variance, before the reparameterisation, as the authors' Torch code (willwhitney/dc-ign) puts
// SelectiveGradientFilter + SelectiveOutputClamp on both encoder outputs ahead of Reparametrize. Everything
// downstream sees the clamped parameters: the decoder's z = mu_c + exp(logvar_c / 2) eps is still stochastic per
// sample (its own eps), and the KL term is that of the clamped q (their KLD criterion reads the encoder's output).
// The clamped latents' whole gradient (decoder's and KL's) is replaced by the invariance gradient, so nothing reaches
// their log-variance through eps. 'z' (the earlier behaviour, kept as an option) clamps the sampled code instead:
// there the invariance gradient flows back through eps into the log-variance.
//
// The clamp target is the whole global batch's: with R data-parallel replicas each holding a slice of it, the
// trainer all-reduces each replica's localClampTarget (clampContribution) before the step (src/train/run.ts).
// Gradient scale: 'mean' mode returns invarianceScale * (v_i - target) for clamped latents; the default 1 / B (B the
// replica's batch, whose loss is a batch mean) makes it the gradient of 1/(2B) sum_i ||v_i - target||^2 with the
// target held fixed, on the scale of our batch-mean losses; averaged over replicas it is the same over the global
// batch. 'first-sample' mode follows the authors' code with force_invariance off: clamped latents take the global
// batch's sample 0 values and get zero gradient.
import type { DcignConfig } from './config.js';
import { tf, type Tensor } from './tf.js';

/**
 * v [B, L] -> v with the latents where freeMask is 0 clamped to `target` [1, L] (default: v's batch mean, or its
 * first row for 'first-sample'). freeMask: [1, L] of 0/1. No gradient reaches the target.
 * Gradient: dy for free latents; scale * (v - target) ('mean') or 0 ('first-sample') for clamped ones.
 */
export function dcignClamp(v: Tensor, freeMask: Tensor, mode: DcignConfig['clamp'], scale: number, target?: Tensor): Tensor {
  const clampMask = tf.sub(1, freeMask);
  const op = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const vIn = args[0] as Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const ref = target ?? localClampTarget(vIn, mode);
    const value = tf.add(tf.mul(vIn, freeMask), tf.mul(ref, clampMask));
    save([vIn, freeMask, clampMask, ref]); // the masks and target too: the forward tidy disposes what is not saved
    return {
      value,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [vs, free, clamped, r] = saved as [Tensor, Tensor, Tensor, Tensor];
        const passed = tf.mul(dy, free);
        if (mode === 'first-sample') return [passed];
        const dev = tf.sub(vs, r);
        return [tf.add(passed, tf.mul(tf.mul(dev, clamped), scale))];
      },
    };
  });
  return op(v) as Tensor;
}

/** The clamp target of one batch of codes v [B, L]: [1, L], its mean ('mean') or its first row ('first-sample'). */
export function localClampTarget(v: Tensor, mode: DcignConfig['clamp']): Tensor {
  return mode === 'mean' ? tf.mean(v, 0, true) : tf.slice(v, [0, 0], [1, -1]);
}

/**
 * What replica `rank` of `worldSize` puts into the all-reduced mean so that the mean is the global batch's target,
 * given its own localClampTarget values (any number of [L] rows, flat): the replicas' slices are equal and
 * contiguous (src/data/sampler.ts), so the mean of their means is the global mean, and the global first sample is
 * rank 0's first (rank 0 sends worldSize times it, the others zeros: exact for worldSize a power of two, else within
 * one rounding of the division).
 */
export function clampContribution(local: Float32Array, mode: DcignConfig['clamp'], rank: number, worldSize: number): Float32Array {
  if (mode === 'mean' || worldSize === 1) return Float32Array.from(local);
  return rank === 0 ? local.map((x) => x * worldSize) : new Float32Array(local.length);
}

/**
 * Resolves the factor -> latents assignment to one latent list per factor index.
 * Keys may be factor names or indices. Without an assignment, the i-th factor with more than one value gets latent i.
 */
export function resolveAssignment(
  cfg: DcignConfig,
  factors: readonly { readonly name: string; readonly size: number }[],
  latentSize: number,
): (readonly number[])[] {
  const out: (readonly number[])[] = factors.map(() => []);
  if (cfg.assignment === undefined || Object.keys(cfg.assignment).length === 0) {
    let next = 0;
    factors.forEach((f, i) => {
      if (f.size > 1) {
        if (next >= latentSize) {
          throw new Error(
            `model.dcign.assignment: the default assignment (one latent per varying factor) needs latentSize >= ` +
              `${factors.filter((x) => x.size > 1).length}; give model.dcign.assignment explicitly`,
          );
        }
        out[i] = [next++];
      }
    });
    return out;
  }
  for (const [key, latents] of Object.entries(cfg.assignment)) {
    const byName = factors.findIndex((f) => f.name === key);
    const idx = byName >= 0 ? byName : /^\d+$/.test(key) ? Number(key) : -1;
    if (idx < 0 || idx >= factors.length) {
      throw new Error(
        `model.dcign.assignment.${key}: no such factor (factors: ${factors.map((f, i) => `${i}:${f.name}`).join(', ')})`,
      );
    }
    out[idx] = latents;
  }
  return out;
}

/** The [L] 0/1 mask of latents left free when `variedFactor` varies. */
export function freeMaskFor(assignment: readonly (readonly number[])[], variedFactor: number, latentSize: number): Float32Array {
  const mask = new Float32Array(latentSize);
  for (const l of assignment[variedFactor] ?? []) mask[l] = 1;
  return mask;
}
