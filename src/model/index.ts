// Public entry of the model package.
export * from './architecture.js';
export * from './config.js';
export * from './losses.js';
export * from './vae.js';
export { dcignClamp, freeMaskFor, resolveAssignment } from './dcign.js';
export { mmd } from './mmd.js';
export { tf } from './tf.js';
export { betaTcRegulariser, gaussianLogDensity, totalCorrelation } from './beta-tcvae.js';
export { covariance, dipCovariance, dipPenalty, dipRegulariser } from './dip-vae.js';
export { Discriminator, discriminatorLoss, factorVaeTerms, permutationIndices, permuteDims, stopGradient, tcFromLogits } from './factor-vae.js';
