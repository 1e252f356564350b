// Which models the graph step (vae-step-graph.ts) covers, without TensorFlow: the trainer asks before building one,
// and tracking tags runs with the answer from their config alone (src/tracking runs in processes without tfjs).

/** The variants the graph step covers, each on every architecture of GRAPH_ARCHITECTURES. */
export const GRAPH_VARIANTS: readonly string[] = ['beta-vae', 'annealed-vae', 'dcign', 'dip-vae-i', 'dip-vae-ii', 'info-vae', 'beta-tcvae', 'factor-vae'];
export const GRAPH_ARCHITECTURES: readonly string[] = ['standard', 'residual', 'attention'];

/** Undefined when the graph step covers this model, else the reason it runs eagerly. */
export function graphSupport(model: { readonly variant?: string; readonly architecture?: string }): string | undefined {
  const variant = model.variant ?? 'beta-vae';
  const architecture = model.architecture ?? 'standard';
  if (!GRAPH_VARIANTS.includes(variant)) {
    return `the ${variant} variant has no graph step yet (${GRAPH_VARIANTS.join(', ')} have)`;
  }
  if (!GRAPH_ARCHITECTURES.includes(architecture)) {
    return `the ${architecture} architecture has no graph step yet (${GRAPH_ARCHITECTURES.join(', ')} have)`;
  }
  return undefined;
}

/** The run tags saying how a config's step runs: dcign.step = graph | eager, and dcign.step.reason when eager. */
export function stepTags(config: { readonly stepMode?: unknown; readonly model: { readonly variant?: string; readonly architecture?: string } }): Record<string, string> {
  const reason = config.stepMode === 'eager' ? 'stepMode is eager' : graphSupport(config.model);
  return executionTags(reason === undefined ? { mode: 'graph' } : { mode: 'eager', reason });
}

/**
 * The same tags for what actually ran (the trainer's result): a host whose graph addon is missing or does not load
 * trains eagerly although its config allows the graph, and only the result says so.
 */
export function executionTags(e: { readonly mode: 'graph' | 'eager'; readonly reason?: string }): Record<string, string> {
  return e.mode === 'graph' ? { 'dcign.step': 'graph' } : { 'dcign.step': 'eager', 'dcign.step.reason': e.reason ?? '' };
}
