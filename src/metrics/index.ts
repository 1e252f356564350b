// Disentanglement metrics: one file per metric (paper cited at its top), shared helpers in utils.ts.
export * from './utils.js';
export * from './source.js';
export { computeMig, migFromCodes, type MigResult } from './mig.js';
export { computeSap, sapFromCodes, type SapResult } from './sap.js';
export { computeModularity, modularityFromCodes, modularityFromMutualInfo } from './modularity.js';
export { computeExplicitness, explicitnessFromCodes } from './explicitness.js';
export { computeDci, dciFromCodes, dciFromImportance } from './dci.js';
export { computeIrs, irsFromCodes } from './irs.js';
export { computeBetaVae } from './beta-vae.js';
export { computeFactorVae } from './factor-vae.js';
export { activeUnits, klPerDimension } from './active-units.js';
export { fitGbt, predictGbt } from './gbt.js';
export { fitLogistic, predictLogistic, predictProba, macroRocAuc, rocAuc } from './logistic.js';
export { fitLinearSvc1d, predictLinearSvc1d } from './svm.js';
export { fitLasso } from './lasso.js';
export {
  udrFromRepresentations,
  relativeStrengthDisentanglement,
  spearmanCorrelationMatrix,
  lassoCorrelationMatrix,
  type UdrCorrelation,
  type UdrModelSample,
  type UdrOptions,
  type UdrResult,
} from './udr.js';
