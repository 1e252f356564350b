// Graph and eager agreement for FactorVAE: the discriminator a second Adam group, fused and flat Adam, per-group clipping.
// Harness and tolerances: test/helpers/graph-agreement.ts.
import { agreementTests, SMALL_D, tcScales } from '../helpers/graph-agreement.js';

agreementTests([
  // FactorVAE (a small discriminator, 2 x 64): TC is the mean difference of D's two logits, rounded relative to the
  // logits (measured |logit| <= 0.52 at the start: scale 1), times gamma in the regulariser and the loss
  { title: 'factor-vae, standard, Gaussian, two Adam groups', model: { variant: 'factor-vae', decoder: 'gaussian', factorVae: SMALL_D }, scales: tcScales(10) },
  { title: 'factor-vae, standard, two Adam groups as flat ops', model: { variant: 'factor-vae', factorVae: SMALL_D }, kernel: 'flat', scales: tcScales(10) },
  // (residual + Gaussian + clip parts a few parameters by 4e-5 at step 4, Adam's sign of noise again: clip on Bernoulli).
  // Here the KL grows to 0.22 and at step 4 differs by 5.9e-6 with every parameter within 1.8e-6: the KL sums per
  // latent (mu^2 + exp(logvar) - logvar - 1) / 2, terms of about 1 that cancel, so it is held to 1e-5 of those (1 per
  // latent, L = 4 in all), as MMD and TC are
  {
    title: 'factor-vae, residual, Bernoulli, clipped per group',
    model: { variant: 'factor-vae', architecture: 'residual', factorVae: SMALL_D },
    adam: { clipNorm: 1 },
    scales: { ...tcScales(10), kl: 4, kl_0: 1, kl_1: 1, kl_2: 1, kl_3: 1, regulariser: 14, loss: 14 },
  },

]);
