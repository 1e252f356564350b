// Graph and eager agreement on the attention architecture (SAGAN softmax attention) for each model family.
// Harness and tolerances: test/helpers/graph-agreement.ts.
import { agreementTests, mmdScales, SMALL_D, tcScales } from '../helpers/graph-agreement.js';

agreementTests([
  // Attention starts from gamma = 0.5 in both models: at its initial 0 the attention path passes no gradient, then a
  // float-noise one (gamma ~ lr after one step) that Adam normalises, so from gamma = 0 the trajectories part by sign
  // of noise (4,163 parameters beyond lr / 10 after 5 steps, while the gradients at equal parameters agree to 1e-5 of
  // each tensor's largest); from 0.5 the attention rules carry real gradient from the first step
  { title: 'beta-vae, attention, Bernoulli', model: { variant: 'beta-vae', architecture: 'attention', beta: 4 }, gamma: 0.5 },
  { title: 'dcign, attention, Gaussian, clamp to the batch mean (params)', model: { variant: 'dcign', architecture: 'attention', decoder: 'gaussian', dcign: { clamp: 'mean' } }, gamma: 0.5, steps: 3 },
  { title: 'info-vae, attention, Bernoulli, imq kernel', model: { variant: 'info-vae', architecture: 'attention', mmd: { kernel: 'imq', lambda: 1000, alpha: 0 } }, scales: mmdScales(999), gamma: 0.5 },
  { title: 'beta-tcvae, attention, Bernoulli', model: { variant: 'beta-tcvae', architecture: 'attention', beta: 2 }, gamma: 0.5 },
  { title: 'factor-vae, attention, Bernoulli, clipped per group', model: { variant: 'factor-vae', architecture: 'attention', factorVae: SMALL_D }, adam: { clipNorm: 1 }, scales: tcScales(10), gamma: 0.5 },
  { title: 'dip-vae-i, attention, Bernoulli', model: { variant: 'dip-vae-i', architecture: 'attention', dip: { lambdaOd: 10, lambdaDFactor: 10 } }, gamma: 0.5 },
]);
