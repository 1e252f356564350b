// Two layer tails as single TensorFlow kernels with hand-written gradients, registered for tfjs's native backend.
//
// Why: every tfjs op is one eager dispatch, and tfjs's own gradients for these tails are long chains of full-size
// ops (ReLU's gradient is dy * step(x), built from six ops in tfjs-node; a broadcast bias add's is a Sum and a
// Reshape; sigmoid cross-entropy's runs through relu, abs, exp and log1p). TensorFlow has one kernel for each:
//   bias + activation   forward BiasAdd (+ Relu); backward ReluGrad and BiasAddGrad
//   Bernoulli recon     forward Softplus(l) - l * x summed (= the stable sigmoid cross-entropy); backward
//                       sigmoid(l) - x, the textbook derivative (Goodfellow et al. 2016, Sec. 6.2.2.2)
// Registered as kernels with gradient configs (not tf.customGrad) so the tape asks only for the gradients it needs:
// the images never get one. bench/train.ts measures the effect (ours vs ours-unfused).
import { tf, type Tensor } from './tf.js';

const BIAS_ACT = 'DcignBiasActivation';
const XENT_SUM = 'DcignSigmoidCrossEntropySum';

/** The slice of tfjs-node's backend the kernels use (public methods of NodeJSKernelBackend). */
interface NativeBackend {
  readonly binding: { readonly TF_ATTR_TYPE: number; readonly TF_ATTR_STRING: number; readonly TF_FLOAT: number };
  executeSingleOutput(name: string, attrs: readonly unknown[], inputs: readonly Tensor[]): Tensor;
}

function floatT(b: NativeBackend): unknown {
  return { name: 'T', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT };
}

function nhwc(b: NativeBackend): unknown {
  return { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' };
}

/** Runs one TensorFlow op by name on the native backend (outside any tape: callers are kernels or gradients). */
function op(name: string, inputs: readonly Tensor[], withDataFormat = false): Tensor {
  const b = tf.backend() as unknown as NativeBackend;
  const attrs = withDataFormat ? [floatT(b), nhwc(b)] : [floatT(b)];
  return b.executeSingleOutput(name, attrs, inputs);
}

let registered = false;

function register(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: BIAS_ACT,
    backendName: 'tensorflow',
    kernelFunc: ({ inputs, attrs }) => {
      const { x, bias } = inputs as unknown as { x: Tensor; bias: Tensor };
      const pre = op('BiasAdd', [x, bias], true);
      if (!(attrs as { relu: boolean }).relu) return pre;
      const y = op('Relu', [pre]);
      pre.dispose();
      return y;
    },
  });
  tf.registerGradient({
    kernelName: BIAS_ACT,
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const d = dy as Tensor;
      // ReluGrad passes dy where its second input is > 0; relu's output is > 0 exactly where its input is.
      const dPre = (attrs as { relu: boolean }).relu ? op('ReluGrad', [d, saved[0] as Tensor]) : d;
      return {
        // reshape: a fresh handle on the same buffer, so the tape never sees one tensor as two gradients
        x: () => tf.reshape(dPre, dPre.shape),
        // BiasAddGrad vectorises over channels: with one channel (the decoder's last layer) it took 4.3 ms where a
        // Sum over the other axes takes 0.2 ms; from 32 channels on it is the faster one (0.3 vs 0.8 ms)
        bias: () => ((dPre.shape.at(-1) ?? 0) < 4 ? tf.sum(dPre, [...dPre.shape.keys()].slice(0, -1)) : op('BiasAddGrad', [dPre], true)),
      };
    },
  });
  tf.registerKernel({
    kernelName: XENT_SUM,
    backendName: 'tensorflow',
    kernelFunc: ({ inputs }) => {
      const { logits, labels } = inputs as unknown as { logits: Tensor; labels: Tensor };
      return tf.tidy(() => tf.sub(tf.sum(tf.softplus(logits)), tf.sum(tf.mul(logits, labels))));
    },
  });
  tf.registerGradient({
    kernelName: XENT_SUM,
    inputsToSave: ['logits', 'labels'],
    gradFunc: (dy, saved) => {
      const [logits, labels] = saved as [Tensor, Tensor];
      return {
        logits: () => tf.mul(tf.sub(tf.sigmoid(logits), labels), dy as Tensor),
        labels: () => tf.mul(tf.neg(logits), dy as Tensor),
      };
    },
  });
}

/** relu?(x + bias), bias broadcast over the last axis (x of rank 2 or 4). */
export function biasActivation<T extends Tensor>(x: T, bias: Tensor, relu: boolean): T {
  register();
  return tf.engine().runKernel(BIAS_ACT, { x, bias }, { relu }) as T;
}

/** Sum over all elements of the sigmoid cross-entropy of `logits` against targets `labels` in [0, 1] (a scalar). */
export function sigmoidCrossEntropySum(logits: Tensor, labels: Tensor): Tensor {
  register();
  if (logits.shape.join() !== labels.shape.join()) {
    throw new Error(`sigmoidCrossEntropySum: logits [${logits.shape.join()}] and labels [${labels.shape.join()}] differ in shape`);
  }
  return tf.engine().runKernel(XENT_SUM, { logits, labels }, {}) as Tensor;
}
