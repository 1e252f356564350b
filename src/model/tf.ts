// The one place src/model and src/train get TensorFlow.js from: the lead's loadTf() (src/backend.ts), which loads the
// native binding once per process (tfjs-node-gpu when a GPU is usable, else tfjs-node; never the pure-JS backend).
// Top-level await, so importers use `tf` synchronously; the namespace below re-exports the types under `tf.`.
import type * as TfTypes from '@tensorflow/tfjs-node';
import { loadTf, type TfModule } from '../backend.js';

export const tf: TfModule = await loadTf();

// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace tf {
  export type Tensor<R extends TfTypes.Rank = TfTypes.Rank> = TfTypes.Tensor<R>;
  export type Tensor1D = TfTypes.Tensor1D;
  export type Tensor2D = TfTypes.Tensor2D;
  export type Tensor4D = TfTypes.Tensor4D;
  export type Scalar = TfTypes.Scalar;
  export type Variable = TfTypes.Variable;
  export type GradSaveFunc = TfTypes.GradSaveFunc;
  export type Rank = TfTypes.Rank;
}
export type Tensor = TfTypes.Tensor;
export type Variable = TfTypes.Variable;
