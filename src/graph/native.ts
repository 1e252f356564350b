// Loads the tf-graph addon (native/tf-graph/tf_graph.c): TensorFlow's C API graph and session calls, built by
// scripts/setup-tensorflow.sh into build/tf-graph/<variant>/ against the libtensorflow the tfjs binding of that
// variant loads (src/backend.ts picks it), so both share one TensorFlow runtime in the process.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendInfo } from '../backend.js';

/** An op output: [op index in its graph, output index]. */
export type Output = readonly [number, number];

export type AttrKind = 'type' | 'int' | 'float' | 'bool' | 'string' | 'shape' | 'ints' | 'types' | 'tensor';
export interface TensorValue {
  readonly dtype: number;
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}
export type Attr = readonly [name: string, kind: AttrKind, value: unknown];

/** The addon's functions (see tf_graph.c for each one's contract). */
export interface TfGraphAddon {
  newGraph(): number;
  deleteGraph(graph: number): void;
  addOp(graph: number, type: string, name: string, inputs: readonly (Output | readonly Output[])[], attrs: readonly Attr[], control?: readonly number[]): number;
  newSession(graph: number, config?: Uint8Array): number;
  closeSession(session: number): void;
  run(
    session: number,
    feeds: readonly (readonly [Output, TensorValue])[],
    fetches: readonly Output[],
    targets: readonly number[],
  ): { shape: number[]; data: Float32Array }[];
  /**
   * TF_AddGradientsWithPrefix over TensorFlow's C++ gradient registry: sum over ys of d(y . dy)/dx for each x, as
   * outputs of new ops in the graph; throws where the registry has no gradient for an op on a path.
   */
  addGradients(graph: number, prefix: string, ys: readonly Output[], xs: readonly Output[], dys: readonly Output[]): Output[];
  version(): string;
}

/** TF_DataType codes (tensorflow/c/tf_datatype.h). */
export const DT_FLOAT = 1;
export const DT_INT32 = 3;
export const DT_RESOURCE = 20;

export const ADDON_FILE = 'dcign_tf_graph.node';
/** The clone's root (this file is dist/src/graph/native.js). */
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

let cached: TfGraphAddon | string | undefined;

/** The addon, or why it is not available (a sentence with the fix). */
export function loadGraphAddon(): TfGraphAddon | string {
  if (cached !== undefined) return cached;
  const variant = backendInfo()?.variant ?? 'cpu';
  // DCIGN_TF_GRAPH_DIR: where the addon variants live when not in this checkout's build/ (an image built elsewhere)
  const path = join(process.env.DCIGN_TF_GRAPH_DIR ?? join(REPO, 'build', 'tf-graph'), variant, ADDON_FILE);
  if (!existsSync(path)) {
    return (cached = `the TensorFlow graph addon is not built (${path} missing): run bash scripts/setup-tensorflow.sh${variant === 'gpu' ? ' --gpu' : ''}`);
  }
  const require = createRequire(import.meta.url);
  try {
    cached = require(path) as TfGraphAddon;
    // an addon built from an older tf_graph.c (before addGradients) would fail at the first graph built with it
    if (typeof cached.addGradients !== 'function') {
      cached = `the TensorFlow graph addon ${path} is older than native/tf-graph/tf_graph.c (no addGradients): run bash scripts/setup-tensorflow.sh${variant === 'gpu' ? ' --gpu' : ''}`;
    }
  } catch (err) {
    cached = `the TensorFlow graph addon ${path} does not load: ${(err as Error).message.split('\n')[0]}`;
  }
  return cached;
}
