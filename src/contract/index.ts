// The Temporal contract between the CLI, the workflows and the workers: ids, search attributes, signals, queries,
// updates and the workflows' inputs. It imports only @temporalio/workflow, @temporalio/common and pure types, so
// workflow code, clients and activities can all share it (after temporalio/sdk-typescript's test definitions.ts).
export * from './checkpoint.js';
export * from './ids.js';
export * from './search-attributes.js';
export * from './sweep.js';
export * from './trial.js';
export * from './types.js';
