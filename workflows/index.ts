// Workflow entry point bundled by the worker (dist/workflows/index.js). Deterministic code only.
export { sweepWorkflow } from './sweep.js';
export { trialWorkflow } from './trial.js';
export { pbtWorkflow } from './pbt.js';
