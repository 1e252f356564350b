// Graph and eager agreement for InfoVAE (MMD) and beta-TCVAE (minibatch-weighted TC) on standard and residual.
// Harness and tolerances: test/helpers/graph-agreement.ts.
import { agreementTests, mmdScales } from '../helpers/graph-agreement.js';

agreementTests([
  // InfoVAE: MMD = kqq + kpp - 2 kqp with every kernel value in (0, 1], so float32 rounds it relative to those terms
  // (up to 4), not to their difference: measured 1.2e-7 apart (1 ulp of 1) at every step while |MMD| fell to 1.5e-3.
  // The weight alpha + lambda - 1 carries that scale into the regulariser and the loss.
  { title: 'info-vae, standard, Bernoulli, imq kernel', model: { variant: 'info-vae', mmd: { kernel: 'imq', lambda: 1000, alpha: 0 } }, scales: mmdScales(999) },
  // (with clipping as well, the Gaussian InfoVAE's trajectories part by Adam's sign of noise from step 3: 1,595
  // parameters beyond lr / 10 while its gradients at equal parameters agree; Bernoulli + clip and Gaussian alone do not)
  { title: 'info-vae, residual, Gaussian, rbf kernel', model: { variant: 'info-vae', architecture: 'residual', decoder: 'gaussian', mmd: { kernel: 'rbf', lambda: 100, alpha: 0.5 } }, scales: mmdScales(99.5) },
  { title: 'info-vae, residual, Bernoulli, rbf kernel, clipped', model: { variant: 'info-vae', architecture: 'residual', mmd: { kernel: 'rbf', lambda: 100, alpha: 0.5 } }, adam: { clipNorm: 1 }, scales: mmdScales(99.5) },
  // beta 2 (TC weight 1): at beta 6 the encoder's gradients agree at equal parameters (3e-5 of each tensor's largest)
  // but 616 parameters part beyond lr / 10 after 2 steps, Adam's sign of noise on near-zero coordinates
  { title: 'beta-tcvae, standard, Bernoulli', model: { variant: 'beta-tcvae', beta: 2 } },
]);
