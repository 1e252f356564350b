// Posterior collapse of a trained trial: its encoder carries (almost) nothing about the input, so q(z|x) = p(z) for
// every x and its metrics (MIG 0, ...) describe a model that learned no code (Bowman et al. 2016, "Generating
// Sentences from a Continuous Space", Sec. 3.1; active units: Burda et al. 2016, "Importance Weighted Autoencoders",
// Sec. 5.2, a latent with Cov_x(E[z|x]) > 0.01). Pure, for `dcign sweep results` and `dcign report` alike.

/** Total KL(q(z|x) || N(0, I)) below this many nats (summed over latents) counts as collapsed. */
export const COLLAPSE_KL_NATS = 0.1;

/**
 * Why a trial counts as collapsed, or undefined when it does not (or when it logged neither value): no active unit
 * (the evaluation's active_units is 0), or its final KL below COLLAPSE_KL_NATS.
 */
export function collapseReason(metrics: Readonly<Record<string, number | undefined>>): string | undefined {
  const why: string[] = [];
  const au = metrics.active_units;
  if (au !== undefined && Number.isFinite(au) && au === 0) why.push('no active unit');
  const kl = metrics.kl;
  if (kl !== undefined && Number.isFinite(kl) && kl < COLLAPSE_KL_NATS) why.push(`KL ${Number(kl.toPrecision(2))} < ${COLLAPSE_KL_NATS} nats`);
  return why.length > 0 ? why.join(', ') : undefined;
}
