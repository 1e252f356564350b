// DCIGN clamped training: Kulkarni, Whitney, Kohli & Tenenbaum 2015, "Deep Convolutional Inverse Graphics Network"
// (NIPS), Sec. 3.1 "Training procedure": each minibatch varies one generative factor; the latents assigned to it
// stay free, all other latents are clamped to their average over the batch in the forward pass, and in the backward
// pass their gradient is replaced by their difference from that average, which trains them to be invariant to the
// varied factor.
//
// Where it applies: to the sampled code z that the decoder sees (the "graphics code" of the paper); the KL term still
// sees each sample's own q(z|x).
// Gradient scale: 'mean' mode returns invarianceScale * (z_i - mean) for clamped latents; the default 1 / B makes it
// the gradient of 1/(2B) sum_i ||z_i - mean||^2 with the mean held fixed, on the scale of our batch-mean losses.
// 'first-sample' mode follows the authors' Torch code (willwhitney/dc-ign) with force_invariance off: clamped latents
// take sample 0's values and get zero gradient.
import type { DcignConfig } from './config.js';
import { tf, type Tensor } from './tf.js';

/**
 * z [B, L] -> z with the latents where freeMask is 0 clamped. freeMask: [1, L] of 0/1.
 * Gradient: dy for free latents; scale * (z - mean) ('mean') or 0 ('first-sample') for clamped ones.
 */
export function dcignClamp(z: Tensor, freeMask: Tensor, mode: DcignConfig['clamp'], scale: number): Tensor {
  const clampMask = tf.sub(1, freeMask);
  const op = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const zIn = args[0] as Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const ref = mode === 'mean' ? tf.mean(zIn, 0, true) : tf.slice(zIn, [0, 0], [1, -1]);
    const value = tf.add(tf.mul(zIn, freeMask), tf.mul(ref, clampMask));
    save([zIn, freeMask, clampMask]); // the masks too: the forward tidy disposes what is not saved
    return {
      value,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [zs, free, clamped] = saved as [Tensor, Tensor, Tensor];
        const passed = tf.mul(dy, free);
        if (mode === 'first-sample') return [passed];
        const dev = tf.sub(zs, tf.mean(zs, 0, true));
        return [tf.add(passed, tf.mul(tf.mul(dev, clamped), scale))];
      },
    };
  });
  return op(z) as Tensor;
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
