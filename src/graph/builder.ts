// A TensorFlow graph built from TypeScript, op by op, with static shapes and reverse-mode differentiation.
//
// Each differentiable helper records how to send a gradient back to its inputs (the chain rule, op by op, as in
// Griewank & Walther 2008, "Evaluating Derivatives", Ch. 3); gradients() walks that record backwards from a scalar
// and emits the backward ops into the same graph. Every backward op is one TensorFlow itself registers for the
// forward op's gradient (Conv2DBackpropInput/Filter, BiasAddGrad, ReluGrad, SigmoidGrad, MatMul with transposes), all
// with CPU and GPU kernels: nothing in the graph is CPU-only.
//
// Shapes are static (the batch size is part of the graph): a step graph is built once per model and batch size.
//
// One file, one class: each differentiable op both emits its forward node and records its backward rule on the
// builder's tape, so the op vocabulary and the tape are one concept; split by op family, every part would reach into
// the tape and the graph handle that the builder keeps private.
import { DT_FLOAT, DT_INT32, type Attr, type Output, type TfGraphAddon } from './native.js';

/** A float32 tensor in the graph and its static shape. */
export interface Node {
  readonly out: Output;
  readonly shape: readonly number[];
}

interface TapeEntry {
  readonly inputs: readonly Node[];
  readonly output: Node;
  /** Gradients for each input given the output's; undefined where an input gets none. */
  readonly backward: (dy: Node) => readonly (Node | undefined)[];
}

const key = (n: Node): string => `${n.out[0]}:${n.out[1]}`;
const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

export class GraphBuilder {
  readonly graph: number;
  private readonly tape: TapeEntry[] = [];
  private counter = 0;

  constructor(readonly addon: TfGraphAddon) {
    this.graph = addon.newGraph();
  }

  /** A raw op (not recorded for gradients); returns its index. */
  op(type: string, inputs: readonly (Output | readonly Output[])[], attrs: readonly Attr[] = [], control: readonly number[] = []): number {
    return this.addon.addOp(this.graph, type, `${type}_${this.counter++}`, inputs, attrs, control);
  }

  private node(type: string, inputs: readonly Node[], shape: readonly number[], attrs: readonly Attr[] = [], extra: readonly Output[] = []): Node {
    const op = this.op(type, [...inputs.map((n) => n.out), ...extra], [['T', 'type', DT_FLOAT], ...attrs]);
    return { out: [op, 0], shape };
  }

  private record(inputs: readonly Node[], output: Node, backward: TapeEntry['backward']): Node {
    this.tape.push({ inputs, output, backward });
    return output;
  }

  // ---- leaves -------------------------------------------------------------------------------------------------

  placeholder(shape: readonly number[], dtype = DT_FLOAT): Node {
    const op = this.op('Placeholder', [], [
      ['dtype', 'type', dtype],
      ['shape', 'shape', shape],
    ]);
    return { out: [op, 0], shape };
  }

  /** Placeholder that takes `input` unless fed. */
  placeholderWithDefault(input: Node): Node {
    const op = this.op('PlaceholderWithDefault', [input.out], [
      ['dtype', 'type', DT_FLOAT],
      ['shape', 'shape', input.shape],
    ]);
    return { out: [op, 0], shape: input.shape };
  }

  constant(values: number | Float32Array, shape: readonly number[] = []): Node {
    const data = typeof values === 'number' ? new Float32Array([values]) : values;
    const op = this.op('Const', [], [
      ['dtype', 'type', DT_FLOAT],
      ['value', 'tensor', { dtype: DT_FLOAT, shape, data }],
    ]);
    return { out: [op, 0], shape };
  }

  intConstant(values: readonly number[], shape: readonly number[] = [values.length]): Output {
    const op = this.op('Const', [], [
      ['dtype', 'type', DT_INT32],
      ['value', 'tensor', { dtype: DT_INT32, shape, data: Int32Array.from(values) }],
    ]);
    return [op, 0];
  }

  /** A resource variable (float32, `shape`) and an op reading it. */
  variable(name: string, shape: readonly number[]): { handle: Output; read: Node } {
    const h = this.op('VarHandleOp', [], [
      ['dtype', 'type', DT_FLOAT],
      ['shape', 'shape', shape],
      ['shared_name', 'string', name],
      ['container', 'string', ''],
    ]);
    const handle: Output = [h, 0];
    const r = this.op('ReadVariableOp', [handle], [['dtype', 'type', DT_FLOAT]]);
    return { handle, read: { out: [r, 0], shape } };
  }

  assign(handle: Output, value: Node, control: readonly number[] = []): number {
    return this.op('AssignVariableOp', [handle, value.out], [['dtype', 'type', DT_FLOAT]], control);
  }

  assignSub(handle: Output, value: Node): number {
    return this.op('AssignSubVariableOp', [handle, value.out], [['dtype', 'type', DT_FLOAT]]);
  }

  /** An op with no outputs that runs after all of `deps`. */
  group(deps: readonly number[]): number {
    return this.op('NoOp', [], [], deps);
  }

  // ---- differentiable ops -------------------------------------------------------------------------------------

  /** 'SAME' convolution, NHWC; w [kh, kw, in, out]. */
  conv2d(x: Node, w: Node, stride: number): Node {
    const [b, h, wd] = x.shape as [number, number, number, number];
    const out = w.shape[3] as number;
    const attrs: Attr[] = [
      ['strides', 'ints', [1, stride, stride, 1]],
      ['padding', 'string', 'SAME'],
      ['data_format', 'string', 'NHWC'],
    ];
    const y = this.node('Conv2D', [x, w], [b, Math.ceil(h / stride), Math.ceil(wd / stride), out], attrs);
    return this.record([x, w], y, (dy) => [
      this.convBackpropInput(x.shape, w, dy, attrs),
      this.convBackpropFilter(x, w.shape, dy, attrs),
    ]);
  }

  private convBackpropInput(inputShape: readonly number[], w: Node, dy: Node, attrs: readonly Attr[]): Node {
    const op = this.op('Conv2DBackpropInput', [this.intConstant(inputShape), w.out, dy.out], [['T', 'type', DT_FLOAT], ...attrs]);
    return { out: [op, 0], shape: inputShape };
  }

  private convBackpropFilter(x: Node, filterShape: readonly number[], dy: Node, attrs: readonly Attr[]): Node {
    const op = this.op('Conv2DBackpropFilter', [x.out, this.intConstant(filterShape), dy.out], [['T', 'type', DT_FLOAT], ...attrs]);
    return { out: [op, 0], shape: filterShape };
  }

  /** Transposed 'SAME' convolution to `outShape` (NHWC), w [kh, kw, out, in]: tfjs's conv2dTranspose. */
  conv2dTranspose(x: Node, w: Node, outShape: readonly number[], stride: number): Node {
    const attrs: Attr[] = [
      ['strides', 'ints', [1, stride, stride, 1]],
      ['padding', 'string', 'SAME'],
      ['data_format', 'string', 'NHWC'],
    ];
    const y = this.convBackpropInput(outShape, w, x, attrs);
    return this.record([x, w], y, (dy) => {
      // the transpose of "the gradient of a convolution": its gradients are a convolution and a filter gradient
      const op = this.op('Conv2D', [dy.out, w.out], [['T', 'type', DT_FLOAT], ...attrs]);
      return [{ out: [op, 0], shape: x.shape }, this.convBackpropFilter(dy, w.shape, x, attrs)];
    });
  }

  matMul(a: Node, b: Node, transposeA = false, transposeB = false): Node {
    const rows = transposeA ? a.shape[1] : a.shape[0];
    const cols = transposeB ? b.shape[0] : b.shape[1];
    const mm = (p: Node, q: Node, ta: boolean, tb: boolean, shape: readonly number[]): Node =>
      this.node('MatMul', [p, q], shape, [
        ['transpose_a', 'bool', ta],
        ['transpose_b', 'bool', tb],
      ]);
    if (transposeA || transposeB) throw new Error('GraphBuilder.matMul: gradients of transposed products are not written');
    const y = mm(a, b, transposeA, transposeB, [rows as number, cols as number]);
    return this.record([a, b], y, (dy) => [mm(dy, b, false, true, a.shape), mm(a, dy, true, false, b.shape)]);
  }

  /**
   * a^T b for a [n, p], b [n, q]: [p, q]. Gradients (the transposed-product rule; TensorFlow registers the same
   * for MatMul with transpose_a): b dy^T to a, a dy to b.
   */
  matMulTA(a: Node, b: Node): Node {
    const [n, p] = a.shape as [number, number];
    const q = b.shape[1] as number;
    const mm = (x: Node, y: Node, ta: boolean, tb: boolean, shape: readonly number[]): Node =>
      this.node('MatMul', [x, y], shape, [
        ['transpose_a', 'bool', ta],
        ['transpose_b', 'bool', tb],
      ]);
    const y = mm(a, b, true, false, [p, q]);
    return this.record([a, b], y, (dy) => [mm(b, dy, false, true, [n, p]), mm(a, dy, false, false, [n, q])]);
  }

  /** Mean over axis 0 of a rank-2 x, kept as a row: [n, k] -> [1, k]. */
  meanRowsKeep(x: Node): Node {
    const [n, k] = x.shape as [number, number];
    const y = this.node('Mean', [x], [1, k], [['keep_dims', 'bool', true], ['Tidx', 'type', DT_INT32]], [this.intConstant([0])]);
    return this.record([x], y, (dy) => [this.node('RealDiv', [this.broadcast(dy, [n, k]), this.constant(n)], [n, k])]);
  }

  /** Sum over axis 1 of a rank-2 x: [n, k] -> [n]. */
  sumColumns(x: Node): Node {
    const [n, k] = x.shape as [number, number];
    const y = this.node('Sum', [x], [n], [['keep_dims', 'bool', false], ['Tidx', 'type', DT_INT32]], [this.intConstant([1])]);
    return this.record([x], y, (dy) => [this.broadcast(this.rawReshape(dy, [n, 1]), [n, k])]);
  }

  /** diag(v) as eye * v (src/model/dip-vae.ts): [k] -> [k, k]; gradient: the diagonal of dy, Sum(dy * eye, axis 0). */
  diag(v: Node, eye: Node): Node {
    const k = v.shape[0] as number;
    const y = this.node('Mul', [eye, v], [k, k]);
    return this.record([v], y, (dy) => [
      this.node('Sum', [this.rawMul(dy, eye)], [k], [['keep_dims', 'bool', false], ['Tidx', 'type', DT_INT32]], [this.intConstant([0])]),
    ]);
  }

  /** x + bias over the last axis. */
  biasAdd(x: Node, bias: Node): Node {
    const y = this.node('BiasAdd', [x, bias], x.shape, [['data_format', 'string', 'NHWC']]);
    // BiasAddGrad vectorises over channels: with fewer than 4 (the decoder's last layer) a Sum over the other axes
    // is the faster kernel (measured in src/model/native-ops.ts)
    const channels = bias.shape[0] as number;
    return this.record([x, bias], y, (dy) => [
      dy,
      channels < 4
        ? this.node('Sum', [dy], bias.shape, [['keep_dims', 'bool', false], ['Tidx', 'type', DT_INT32]], [this.intConstant([...x.shape.keys()].slice(0, -1))])
        : this.node('BiasAddGrad', [dy], bias.shape, [['data_format', 'string', 'NHWC']]),
    ]);
  }

  relu(x: Node): Node {
    const y = this.node('Relu', [x], x.shape);
    return this.record([x], y, (dy) => [this.node('ReluGrad', [dy, y], x.shape)]);
  }

  sigmoid(x: Node): Node {
    const y = this.node('Sigmoid', [x], x.shape);
    return this.record([x], y, (dy) => [this.node('SigmoidGrad', [y, dy], x.shape)]);
  }

  exp(x: Node): Node {
    const y = this.node('Exp', [x], x.shape);
    return this.record([x], y, (dy) => [this.rawMul(dy, y)]);
  }

  square(x: Node): Node {
    const y = this.node('Square', [x], x.shape);
    return this.record([x], y, (dy) => [this.rawMul(dy, this.rawMul(x, this.constant(2)))]);
  }

  abs(x: Node): Node {
    const y = this.node('Abs', [x], x.shape);
    return this.record([x], y, (dy) => [this.rawMul(dy, this.node('Sign', [x], x.shape))]);
  }

  reshape(x: Node, shape: readonly number[]): Node {
    if (size(shape) !== size(x.shape)) throw new Error(`GraphBuilder.reshape: [${x.shape.join()}] to [${shape.join()}]`);
    const y = this.rawReshape(x, shape);
    return this.record([x], y, (dy) => [this.rawReshape(dy, x.shape)]);
  }

  /** Splits the last axis of a rank-2 x into pieces of `sizes`. */
  splitColumns(x: Node, sizes: readonly number[]): Node[] {
    const rows = x.shape[0] as number;
    const op = this.op('SplitV', [x.out, this.intConstant(sizes), this.intConstant([1], [])], [
      ['T', 'type', DT_FLOAT],
      ['Tlen', 'type', DT_INT32],
      ['num_split', 'int', sizes.length],
    ]);
    const parts = sizes.map((s, i): Node => ({ out: [op, i], shape: [rows, s] }));
    // one tape entry per piece: its gradient lands in its columns, zeros elsewhere
    let before = 0;
    for (const [i, piece] of parts.entries()) {
      const left = before;
      const right = (x.shape[1] as number) - left - (sizes[i] as number);
      this.record([x], piece, (dy) => [this.padColumns(dy, left, right)]);
      before += sizes[i] as number;
    }
    return parts;
  }

  private padColumns(x: Node, left: number, right: number): Node {
    const op = this.op('Pad', [x.out, this.intConstant([0, 0, left, right], [2, 2])], [
      ['T', 'type', DT_FLOAT],
      ['Tpaddings', 'type', DT_INT32],
    ]);
    return { out: [op, 0], shape: [x.shape[0] as number, (x.shape[1] as number) + left + right] };
  }

  /** Element-wise a + b (b of a's shape, or a scalar). */
  add(a: Node, b: Node): Node {
    return this.binary('AddV2', a, b, (dy) => [dy, this.reduceTo(dy, b.shape)]);
  }

  sub(a: Node, b: Node): Node {
    return this.binary('Sub', a, b, (dy) => [dy, this.reduceTo(this.node('Neg', [dy], dy.shape), b.shape)]);
  }

  mul(a: Node, b: Node): Node {
    return this.binary('Mul', a, b, (dy) => [this.rawMul(dy, b), this.reduceTo(this.rawMul(dy, a), b.shape)]);
  }

  /** a / b, b a scalar (a constant or a fed value: no gradient goes to it). */
  div(a: Node, b: Node): Node {
    if (b.shape.length !== 0) throw new Error('GraphBuilder.div: divisors are scalars');
    const y = this.node('RealDiv', [a, b], a.shape);
    return this.record([a], y, (dy) => [this.node('RealDiv', [dy, b], a.shape)]);
  }

  private binary(type: string, a: Node, b: Node, backward: TapeEntry['backward']): Node {
    if (!sameShape(a.shape, b.shape) && b.shape.length !== 0) {
      throw new Error(`GraphBuilder.${type}: [${a.shape.join()}] with [${b.shape.join()}] (same shape or a scalar)`);
    }
    return this.record([a, b], this.node(type, [a, b], a.shape), backward);
  }

  /** Sum over all elements (a scalar). */
  sum(x: Node): Node {
    const axes = this.intConstant([...x.shape.keys()]);
    const y = this.node('Sum', [x], [], [['keep_dims', 'bool', false], ['Tidx', 'type', DT_INT32]], [axes]);
    return this.record([x], y, (dy) => [this.broadcast(dy, x.shape)]);
  }

  /** Mean over axis 0 of a rank-2 x: [n, k] -> [k]. */
  meanRows(x: Node): Node {
    const [n, k] = x.shape as [number, number];
    const y = this.node('Mean', [x], [k], [['keep_dims', 'bool', false], ['Tidx', 'type', DT_INT32]], [this.intConstant([0])]);
    return this.record([x], y, (dy) => [this.node('RealDiv', [this.broadcast(this.rawReshape(dy, [1, k]), [n, k]), this.constant(n)], [n, k])]);
  }

  /** Sum over all of softplus(l) - l * x (the sigmoid cross-entropy); gradient (sigmoid(l) - x) dy to l only. */
  sigmoidCrossEntropySum(logits: Node, labels: Node): Node {
    const sp = this.node('Softplus', [logits], logits.shape);
    const all = this.intConstant([...logits.shape.keys()]);
    const sumAttrs: Attr[] = [['keep_dims', 'bool', false], ['Tidx', 'type', DT_INT32]];
    const a = this.node('Sum', [sp], [], sumAttrs, [all]);
    const b = this.node('Sum', [this.rawMul(logits, labels)], [], sumAttrs, [all]);
    const y = this.node('Sub', [a, b], []);
    return this.record([logits], y, (dy) => [this.rawMul(this.node('Sub', [this.node('Sigmoid', [logits], logits.shape), labels], logits.shape), dy)]);
  }

  /**
   * DCIGN's clamp (src/model/dcign.ts dcignClamp, op for op): v [B, L] -> v * free + target * (1 - free), free and
   * target [1, L]. Hand rule (a replaced gradient is no op's gradient, so TensorFlow's registry cannot have it): the
   * gradient to v is dy * free + scale * (v - target) * (1 - free), or dy * free with scale undefined
   * ('first-sample'); free and target get none.
   */
  clamp(v: Node, free: Node, target: Node, scale: number | undefined): Node {
    const clamped = this.node('Sub', [this.constant(1), free], free.shape);
    const y = this.node('AddV2', [this.rawMul(v, free), this.rawMul(target, clamped)], v.shape);
    return this.record([v], y, (dy) => {
      const passed = this.rawMul(dy, free);
      if (scale === undefined) return [passed];
      const dev = this.node('Sub', [v, target], v.shape);
      return [this.node('AddV2', [passed, this.rawMul(this.rawMul(dev, clamped), this.constant(scale))], v.shape)];
    });
  }

  /** DCIGN's clamp target of v [B, L] (dcign.ts localClampTarget): [1, L], the batch mean or the first row; not recorded. */
  clampTarget(v: Node, mode: 'mean' | 'first-sample'): Node {
    const k = v.shape[1] as number;
    if (mode === 'mean') return this.node('Mean', [v], [1, k], [['keep_dims', 'bool', true], ['Tidx', 'type', DT_INT32]], [this.intConstant([0])]);
    return this.rows(v, 0, 1);
  }

  /** Rows [first, first + count) of a rank-2 x; not recorded. */
  rows(x: Node, first: number, count: number): Node {
    const k = x.shape[1] as number;
    return this.node('Slice', [x], [count, k], [['Index', 'type', DT_INT32]], [this.intConstant([first, 0]), this.intConstant([count, k])]);
  }

  // ---- the other variants' ops (InfoVAE's MMD, beta-TCVAE's TC, FactorVAE's discriminator, SAGAN attention) ----
  // Single-input ops take their gradient from TensorFlow's C++ gradient registry (fromRegistry: TF_AddGradients,
  // which covers each of them: test/graph/registry.test.ts). The products keep hand rules, TensorFlow's MatMul and
  // BatchMatMulV2 gradients written out: TF_AddGradients sums over every path from an x to y, so for a product of a
  // node with itself (MMD's q q^T) or with a descendant of its other operand it would count again paths the tape walks.

  /**
   * The backward of a recorded op y with the single input x, from TensorFlow's gradient registry: with one input every
   * path from x to y is y's own edge (or lies inside a composite that only x enters), so the registry's d(y . dy)/dx is
   * exactly this op's gradient.
   */
  private fromRegistry(y: Node, x: Node): TapeEntry['backward'] {
    return (dy) => {
      const [g] = this.addon.addGradients(this.graph, `grad_${this.counter++}`, [y.out], [x.out], [dy.out]);
      if (g === undefined) throw new Error('GraphBuilder.fromRegistry: TF_AddGradients returned no gradient');
      return [{ out: g, shape: x.shape }];
    };
  }

  /** a b^T for a [n, k], b [m, k]: [n, m]. Gradients (MatMul with transpose_b): dy b to a, dy^T a to b. */
  matMulTB(a: Node, b: Node): Node {
    const [n, k] = a.shape as [number, number];
    const m = b.shape[0] as number;
    const mm = (x: Node, y: Node, ta: boolean, tb: boolean, shape: readonly number[]): Node =>
      this.node('MatMul', [x, y], shape, [
        ['transpose_a', 'bool', ta],
        ['transpose_b', 'bool', tb],
      ]);
    const y = mm(a, b, false, true, [n, m]);
    return this.record([a, b], y, (dy) => [mm(dy, b, false, false, [n, k]), mm(dy, a, true, false, [m, k])]);
  }

  /**
   * Batched products of rank-3 a [B, n, k] and b [B, k, m] (b [B, m, k] with adjB): BatchMatMulV2. Gradients
   * (TensorFlow's BatchMatMulV2 rule): for a b, dy b^T to a and a^T dy to b; for a b^T, dy b to a and dy^T a to b.
   */
  batchMatMul(a: Node, b: Node, adjB = false): Node {
    const [bs, n] = a.shape as [number, number, number];
    const m = (adjB ? b.shape[1] : b.shape[2]) as number;
    const bmm = (x: Node, y: Node, ax: boolean, ay: boolean, shape: readonly number[]): Node =>
      this.node('BatchMatMulV2', [x, y], shape, [
        ['adj_x', 'bool', ax],
        ['adj_y', 'bool', ay],
      ]);
    const y = bmm(a, b, false, adjB, [bs, n, m]);
    return this.record([a, b], y, (dy) =>
      adjB ? [bmm(dy, b, false, false, a.shape), bmm(dy, a, true, false, b.shape)] : [bmm(dy, b, false, true, a.shape), bmm(a, dy, true, false, b.shape)],
    );
  }

  /** Softmax over the last axis; gradient from the registry. */
  softmax(x: Node): Node {
    const y = this.node('Softmax', [x], x.shape);
    return this.record([x], y, this.fromRegistry(y, x));
  }

  /** log softmax over the last axis; gradient from the registry. */
  logSoftmax(x: Node): Node {
    const y = this.node('LogSoftmax', [x], x.shape);
    return this.record([x], y, this.fromRegistry(y, x));
  }

  /** max(x, alpha x); gradient from the registry (LeakyReluGrad). */
  leakyRelu(x: Node, alpha: number): Node {
    const y = this.node('LeakyRelu', [x], x.shape, [['alpha', 'float', alpha]]);
    return this.record([x], y, this.fromRegistry(y, x));
  }

  /** c / x element-wise for a constant c; gradient from the registry (RealDiv's for its divisor). */
  scalarOver(c: number, x: Node): Node {
    const y = this.node('RealDiv', [this.constant(c), x], x.shape);
    return this.record([x], y, this.fromRegistry(y, x));
  }

  /** Sum over one axis, kept (size 1) or dropped; gradient from the registry. */
  sumAxis(x: Node, axis: number, keep: boolean): Node {
    const shape = keep ? x.shape.map((d, i) => (i === axis ? 1 : d)) : x.shape.filter((_, i) => i !== axis);
    const y = this.node('Sum', [x], shape, [['keep_dims', 'bool', keep], ['Tidx', 'type', DT_INT32]], [this.intConstant([axis])]);
    return this.record([x], y, this.fromRegistry(y, x));
  }

  /** Mean over all elements (a scalar); gradient from the registry. */
  mean(x: Node): Node {
    const y = this.node('Mean', [x], [], [['keep_dims', 'bool', false], ['Tidx', 'type', DT_INT32]], [this.intConstant([...x.shape.keys()])]);
    return this.record([x], y, this.fromRegistry(y, x));
  }

  /** x (size-1 axes where `shape` is larger, same rank) broadcast to `shape`; gradient from the registry. */
  broadcastTo(x: Node, shape: readonly number[]): Node {
    const axes = shape.flatMap((d, i) => (x.shape[i] === d ? [] : [i]));
    if (x.shape.length !== shape.length || axes.some((i) => x.shape[i] !== 1)) throw new Error(`GraphBuilder.broadcastTo: [${x.shape.join()}] to [${shape.join()}]`);
    const y = this.broadcast(x, shape);
    return this.record([x], y, this.fromRegistry(y, x));
  }

  /**
   * log sum exp over one axis, dropped, in tfjs's stable arrangement (max kept, subtracted, added back) so both paths
   * round alike. A composite that only x enters, so the registry's gradient is the composite's (the softmax over the
   * axis times dy, through Max's gradient as tfjs's autodiff takes it).
   */
  logSumExp(x: Node, axis: number): Node {
    const kept = x.shape.map((d, i) => (i === axis ? 1 : d));
    const shape = x.shape.filter((_, i) => i !== axis);
    const max = this.node('Max', [x], kept, [['keep_dims', 'bool', true], ['Tidx', 'type', DT_INT32]], [this.intConstant([axis])]);
    const e = this.node('Exp', [this.node('Sub', [x, this.broadcast(max, x.shape)], x.shape)], x.shape);
    const s = this.node('Sum', [e], shape, [['keep_dims', 'bool', false], ['Tidx', 'type', DT_INT32]], [this.intConstant([axis])]);
    const y = this.node('AddV2', [this.rawReshape(max, shape), this.node('Log', [s], shape)], shape);
    return this.record([x], y, this.fromRegistry(y, x));
  }

  /** Splits axis 0 of x into pieces of `sizes`; each piece's gradient (from the registry) lands in its rows. */
  splitRows(x: Node, sizes: readonly number[]): Node[] {
    const op = this.op('SplitV', [x.out, this.intConstant(sizes), this.intConstant([0], [])], [
      ['T', 'type', DT_FLOAT],
      ['Tlen', 'type', DT_INT32],
      ['num_split', 'int', sizes.length],
    ]);
    return sizes.map((sz, i) => {
      const piece: Node = { out: [op, i], shape: [sz, ...x.shape.slice(1)] };
      return this.record([x], piece, this.fromRegistry(piece, x));
    });
  }

  /** Identity whose output carries no gradient back (TensorFlow's StopGradient): the tape never sees it. */
  stopGradient(x: Node): Node {
    return this.node('StopGradient', [x], x.shape);
  }

  /** Flat gather of x's elements at int32 `indices` [n] (FactorVAE's permute_dims of stopped codes); not recorded. */
  gatherFlat(x: Node, indices: Output, shape: readonly number[]): Node {
    const flat = this.rawReshape(x, [size(x.shape)]);
    const op = this.op('GatherV2', [flat.out, indices, this.intConstant([0], [])], [
      ['Tparams', 'type', DT_FLOAT],
      ['Tindices', 'type', DT_INT32],
      ['Taxis', 'type', DT_INT32],
      ['batch_dims', 'int', 0],
    ]);
    return this.rawReshape({ out: [op, 0], shape: [size(x.shape)] }, shape);
  }

  // ---- raw helpers (not recorded) -----------------------------------------------------------------------------

  rawMul(a: Node, b: Node): Node {
    return this.node('Mul', [a, b], a.shape.length >= b.shape.length ? a.shape : b.shape);
  }

  rawReshape(x: Node, shape: readonly number[]): Node {
    const op = this.op('Reshape', [x.out, this.intConstant(shape)], [
      ['T', 'type', DT_FLOAT],
      ['Tshape', 'type', DT_INT32],
    ]);
    return { out: [op, 0], shape };
  }

  broadcast(x: Node, shape: readonly number[]): Node {
    const src = x.shape.length === 0 ? this.rawReshape(x, shape.map(() => 1)) : x;
    const op = this.op('BroadcastTo', [src.out, this.intConstant(shape)], [
      ['T', 'type', DT_FLOAT],
      ['Tidx', 'type', DT_INT32],
    ]);
    return { out: [op, 0], shape };
  }

  /** dy summed down to `shape` (a scalar operand's gradient); dy itself when the shapes agree. */
  private reduceTo(dy: Node, shape: readonly number[]): Node {
    if (sameShape(dy.shape, shape)) return dy;
    const op = this.op('Sum', [dy.out, this.intConstant([...dy.shape.keys()])], [
      ['T', 'type', DT_FLOAT],
      ['keep_dims', 'bool', false],
      ['Tidx', 'type', DT_INT32],
    ]);
    return { out: [op, 0], shape: [] };
  }

  concat(parts: readonly Node[], axis: number): Node {
    const shape = [...(parts[0] as Node).shape];
    shape[axis] = parts.reduce((n, p) => n + (p.shape[axis] as number), 0);
    const op = this.op('ConcatV2', [parts.map((p) => p.out), this.intConstant([axis], [])], [
      ['T', 'type', DT_FLOAT],
      ['N', 'int', parts.length],
      ['Tidx', 'type', DT_INT32],
    ]);
    return { out: [op, 0], shape };
  }

  /** Scalars stacked into a vector. */
  stack(scalars: readonly Node[]): Node {
    const op = this.op('Pack', [scalars.map((s) => s.out)], [
      ['T', 'type', DT_FLOAT],
      ['N', 'int', scalars.length],
      ['axis', 'int', 0],
    ]);
    return { out: [op, 0], shape: [scalars.length] };
  }

  /** A flat vector split into pieces of `sizes`. */
  splitFlat(x: Node, sizes: readonly number[]): Node[] {
    const op = this.op('SplitV', [x.out, this.intConstant(sizes), this.intConstant([0], [])], [
      ['T', 'type', DT_FLOAT],
      ['Tlen', 'type', DT_INT32],
      ['num_split', 'int', sizes.length],
    ]);
    return sizes.map((s, i) => ({ out: [op, i], shape: [s] }));
  }

  /** The element-wise sum of same-shaped nodes, not recorded. */
  addN(xs: readonly Node[]): Node {
    const op = this.op('AddN', [xs.map((x) => x.out)], [
      ['T', 'type', DT_FLOAT],
      ['N', 'int', xs.length],
    ]);
    return { out: [op, 0], shape: (xs[0] as Node).shape };
  }

  /** Sum over all elements, not recorded. */
  rawSum(x: Node): Node {
    return this.node('Sum', [x], [], [['keep_dims', 'bool', false], ['Tidx', 'type', DT_INT32]], [this.intConstant([...x.shape.keys()])]);
  }

  raw(type: string, inputs: readonly Node[], shape: readonly number[]): Node {
    return this.node(type, inputs, shape);
  }

  // ---- gradients ----------------------------------------------------------------------------------------------

  /** d y / d xs for a scalar y, emitted into the graph; throws if some x does not reach y. */
  gradients(y: Node, xs: readonly Node[]): Node[] {
    // only what lies between xs and y gets a gradient (the images, the noise and constants never do)
    const live = new Set(xs.map(key));
    for (const e of this.tape) if (e.inputs.some((i) => live.has(key(i)))) live.add(key(e.output));
    const grads = new Map<string, Node>([[key(y), this.constant(1)]]);
    for (let i = this.tape.length - 1; i >= 0; i--) {
      const e = this.tape[i] as TapeEntry;
      const dy = grads.get(key(e.output));
      if (dy === undefined || !live.has(key(e.output))) continue;
      const dxs = e.backward(dy);
      e.inputs.forEach((inp, j) => {
        const dx = dxs[j];
        if (dx === undefined || !live.has(key(inp))) return;
        const prev = grads.get(key(inp));
        grads.set(key(inp), prev === undefined ? dx : this.node('AddV2', [prev, dx], inp.shape));
      });
    }
    return xs.map((x) => {
      const g = grads.get(key(x));
      if (g === undefined) throw new Error(`GraphBuilder.gradients: op ${x.out[0]} does not reach the loss`);
      return g;
    });
  }

  dispose(): void {
    this.addon.deleteGraph(this.graph);
  }
}
