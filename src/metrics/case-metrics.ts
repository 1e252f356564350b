// The metric keys of a conformance case, apart from the scoring code so the CLI can validate flags without loading it.
/** The metric keys a case may hold, as the README lists them. */
export const CASE_METRICS = [
  'mig',
  'sap_score',
  'sap_score_continuous_factors',
  'modularity',
  'explicitness',
  'dci',
  'irs',
  'beta_vae',
  'factor_vae',
] as const;
