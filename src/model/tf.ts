// The one place src/model and src/train import TensorFlow.js from, so switching to the lead's `loadTf()` (and to
// tfjs-node-gpu on GPU nodes) is a one-line change. Always the native binding: the pure-JS backend is ~1000x slower.
import * as tf from '@tensorflow/tfjs-node';

export { tf };
export type Tensor = tf.Tensor;
export type Variable = tf.Variable;
