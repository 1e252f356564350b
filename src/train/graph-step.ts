// The graph training step (src/graph/vae-step-graph.ts) driven like the eager one (step.ts): a session over the step
// graph, fed each batch, with parameters and Adam's moments held in TensorFlow between steps. They come back to the
// eager model (src/model) only when something reads them: checkpoints, consistency checks, evaluation.
//
//   one replica    train(): forward, backward and Adam in one TF_SessionRun
//   data parallel  gradients() -> reducer.allReduceMean(flat) -> apply(flat), two runs per step
import type { Batch } from '../data/types.js';
import { loadGraphAddon, DT_FLOAT, DT_INT32, type TfGraphAddon, type TensorValue } from '../graph/native.js';
import { sessionConfig } from '../graph/session-config.js';
import { graphSupport } from '../graph/support.js';
import { VaeStepGraph } from '../graph/vae-step-graph.js';
import { readFlat } from '../model/architecture.js';
import { permutationIndices } from '../model/factor-vae.js';
import { EPS_SALT, noiseFor, PRIOR_SALT, type VaeModel } from '../model/vae.js';
import type { Adam, AdamConfig } from './adam.js';

/** How the trainer runs its step, for summaries and run tags. */
export interface StepExecution {
  readonly mode: 'graph' | 'eager';
  /** Why the step runs eagerly (absent for graph). */
  readonly reason?: string;
}

let prefixCounter = 0;

const f32 = (shape: readonly number[], data: Float32Array): TensorValue => ({ dtype: DT_FLOAT, shape, data });
const scalar = (v: number): TensorValue => f32([], new Float32Array([v]));

export class GraphStep {
  private readonly session: number;
  private closed = false;

  private constructor(
    private readonly addon: TfGraphAddon,
    private readonly g: VaeStepGraph,
    private readonly model: VaeModel,
    readonly batchSize: number,
  ) {
    this.session = addon.newSession(g.b.graph, sessionConfig());
  }

  /** The graph step for this model, or the reason it must run eagerly. */
  static create(model: VaeModel, adam: AdamConfig, batchSize: number, adamKernel: 'fused' | 'flat' = 'fused'): GraphStep | string {
    const reason = graphSupport(model.config);
    if (reason !== undefined) return reason;
    const addon = loadGraphAddon();
    if (typeof addon === 'string') return addon;
    const g = new VaeStepGraph(addon, {
      config: model.config,
      channels: model.net.arch.channels,
      batchSize,
      specs: model.specs,
      groups: model.groups,
      adam,
      prefix: `dcign${process.pid}_${prefixCounter++}`,
      adamKernel,
    });
    return new GraphStep(addon, g, model, batchSize);
  }

  /** Parameters and Adam moments from the eager model and optimiser (initial values, a resume, a broadcast). */
  loadFrom(optimizer: Adam): void {
    const st = optimizer.state();
    const values = [this.model.readFlat(), readFlat([st.m]), readFlat([st.v])];
    this.addon.run(
      this.session,
      values.map((x, i) => [this.g.loadInputs[i]!.out, f32([x.length], x)] as const),
      [],
      [this.g.loadOp],
    );
  }

  /** Parameters and moments back into the eager model and optimiser (Adam's t is the optimiser's own). */
  storeTo(optimizer: Adam): void {
    const [params, m, v] = this.addon.run(this.session, [], [this.g.paramsFlat.out, ...this.g.momentReads.map((r) => r.out)], []);
    this.model.assignFlat(params!.data);
    optimizer.restore(m!.data, v!.data, optimizer.t);
  }

  private inputs(batch: Batch, step: number, seed: number): (readonly [readonly [number, number], TensorValue])[] {
    if (batch.batchSize !== this.batchSize) {
      throw new Error(`the graph step was built for batches of ${this.batchSize}, this batch has ${batch.batchSize}`);
    }
    const { imageSize: H, latentSize: L } = this.model.config;
    const C = this.model.net.arch.channels;
    const feeds: (readonly [readonly [number, number], TensorValue])[] = [
      [this.g.x.out, f32([batch.batchSize, H, H, C], batch.images)],
      [this.g.eps.out, f32([batch.batchSize, L], noiseFor(seed, EPS_SALT, batch.globalIndices, L))],
    ];
    if (this.g.capacity !== undefined) feeds.push([this.g.capacity.out, scalar(this.model.capacityAt(step))]);
    if (this.g.prior !== undefined) feeds.push([this.g.prior.out, f32([batch.batchSize, L], noiseFor(seed, PRIOR_SALT, batch.globalIndices, L))]);
    if (this.g.permutation !== undefined) {
      const indices = permutationIndices(seed, batch.globalIndices[0] ?? 0, batch.batchSize, L);
      feeds.push([this.g.permutation.out, { dtype: DT_INT32, shape: [indices.length], data: indices }]);
    }
    if (this.g.freeMask !== undefined) feeds.push([this.g.freeMask.out, f32([1, L], this.model.freeMask(batch.variedFactor))]);
    return feeds;
  }

  /** Adam's per-step values for update number t. */
  private adamFeeds(t: number): (readonly [readonly [number, number], TensorValue])[] {
    return this.g.adamFeeds(t).map(([out, v]) => [out, scalar(v)] as const);
  }

  /** One whole step (one replica); advances optimizer.t. Returns the loss parts when asked (scalarNames order). */
  train(optimizer: Adam, batch: Batch, step: number, seed: number, keepScalars: boolean): Float32Array | undefined {
    optimizer.t += 1;
    const out = this.addon.run(
      this.session,
      [...this.inputs(batch, step, seed), ...this.adamFeeds(optimizer.t)],
      keepScalars ? [this.g.scalars.out] : [],
      [this.g.trainOp],
    );
    return keepScalars ? out[0]!.data : undefined;
  }

  /**
   * Forward and backward: the flat gradient (for the all-reduce) and, when asked, the loss parts. clampTarget
   * (DCIGN with replicas): the global batch's clamp target (the all-reduced clampContribution of localClampTarget).
   */
  gradients(batch: Batch, step: number, seed: number, keepScalars: boolean, clampTarget?: Float32Array): { flat: Float32Array; scalars?: Float32Array } {
    const feeds = this.inputs(batch, step, seed);
    if (clampTarget !== undefined) {
      const t = this.g.clampTarget;
      if (t === undefined) throw new Error(`a clamp target was given for a ${this.model.config.variant} graph, which clamps nothing`);
      feeds.push([t.out, f32(t.shape, clampTarget)]);
    }
    const out = this.addon.run(this.session, feeds, keepScalars ? [this.g.flatGrad.out, this.g.scalars.out] : [this.g.flatGrad.out], []);
    const flat = out[0]!.data;
    return keepScalars ? { flat, scalars: out[1]!.data } : { flat };
  }

  /** DCIGN: this replica's batch's own clamp target, flat (an encoder-only run; replicas only). */
  localClampTarget(batch: Batch, seed: number): Float32Array {
    const t = this.g.localClampTarget;
    if (t === undefined) throw new Error(`the ${this.model.config.variant} graph has no clamp target`);
    const [x, eps] = this.inputs(batch, 0, seed);
    return this.addon.run(this.session, [x!, eps!], [t.out], [])[0]!.data;
  }

  /** Adam with a flat (all-reduced) gradient; advances optimizer.t. */
  apply(optimizer: Adam, flat: Float32Array): void {
    optimizer.t += 1;
    this.addon.run(this.session, [[this.g.gradIn.out, f32([flat.length], flat)], ...this.adamFeeds(optimizer.t)], [], [this.g.applyOp]);
  }

  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    this.addon.closeSession(this.session);
    this.g.b.dispose();
  }
}
