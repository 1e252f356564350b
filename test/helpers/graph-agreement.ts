// The graph/eager agreement harness of test/graph/graph-step*.test.ts (split by model family to keep each file short):
// the graph training step (src/graph, src/train/graph-step.ts) against the eager step it replaces, case by case, with
// the tolerances derived below.
import test from 'ava';
import { DEFAULT_FACTOR_VAE, resolveModelConfig, type ModelConfig } from '../../src/model/config.js';
import { VaeModel } from '../../src/model/vae.js';
import { Adam, type AdamConfig } from '../../src/train/adam.js';
import { GraphStep } from '../../src/train/graph-step.js';
import { computeGradients, applyGradients, readScalars, scalarNames } from '../../src/train/step.js';
import { createSampler } from '../../src/data/index.js';
import { createBars } from './bars.js';

export const BATCH = 8;
export const STEPS = 5;
/**
 * Graph and eager paths compute the same float32 maths with other kernels and summation orders: a sum of n ~ 1e4
 * terms differs by about sqrt(n) * 2^-24 ~ 1e-5 relative, and Adam passes that on to each update (m / sqrt(v) is a
 * ratio of such sums). So, measured over the parameters:
 *  - mean |graph - eager| <= ROUNDING * mean distance the steps moved them (ROUNDING = 1e-4, 10x the 1e-5 above;
 *    measured 1e-5 of it);
 *  - max |graph - eager| <= lr / 10 for all but a few parameters: Adam normalises each coordinate, so one whose
 *    gradient is at float-noise level can step the other way in one path, a difference of up to 2 lr per step. At
 *    most 1 in 10^4 parameters (and at least 1 allowed) may do so, and none by more than 2 lr x steps, the most two
 *    Adam trajectories can part (measured: none beyond lr / 10 in most cases, max 1.6e-5 at lr 1e-3; one dec.fc1
 *    weight 1.03e-4 apart after 3 steps in Gaussian DCIGN, whose loss parts agree to 4e-7).
 */
export const ROUNDING = 1e-4;


export function pair(config: ModelConfig, adam: AdamConfig, adamKernel: 'fused' | 'flat' = 'fused', batchSize = BATCH): { model: VaeModel; opt: Adam; graph: GraphStep } {
  const model = new VaeModel(config, 7, { channels: 1, factors: createBars().factors });
  const opt = new Adam(model.params, adam, model.groups);
  const graph = GraphStep.create(model, adam, batchSize, adamKernel);
  if (typeof graph === 'string') throw new Error(graph);
  graph.loadFrom(opt);
  return { model, opt, graph };
}

export function batches(n: number, kind: 'iid' | 'dcign' = 'iid', rank = 0, worldSize = 1): ReturnType<ReturnType<typeof createSampler>['next']>[] {
  // dcign: factor batches as it trains (one factor varies per batch, a random one per step)
  const sampler = createSampler(createBars(), { kind, batchSize: BATCH, seed: 3, rank, worldSize });
  return Array.from({ length: n }, () => sampler.next());
}

/** InfoVAE's loss parts and the magnitude float32 rounds them to (see the info-vae cases): MMD 4, times its weight. */
export function mmdScales(weight: number): Record<string, number> {
  return { mmd: 4, regulariser: 4 * weight, loss: 4 * weight };
}

/** FactorVAE's: TC a difference of logits (scale 1, see the factor-vae cases), times gamma. */
export function tcScales(gamma: number): Record<string, number> {
  return { tc: 1, regulariser: gamma, loss: gamma };
}

/**
 * scales: loss parts that are differences of larger terms, with the magnitude of those terms; such a part is held to
 * 1e-5 of that magnitude instead of its own.
 */
/** FactorVAE's discriminator at 2 x 64 (the default 6 x 1000 would make these cases slow, and tests no more rules). */
export const SMALL_D = { ...DEFAULT_FACTOR_VAE, hidden: 64, layers: 2 };

export interface AgreementCase {
  title: string;
  model: Parameters<typeof resolveModelConfig>[0];
  adam?: Partial<AdamConfig>;
  kernel?: 'flat';
  steps?: number;
  scales?: Record<string, number>;
  /** Attention: SAGAN's gamma to start from in both models (see the attention cases). */
  gamma?: number;
}

/** Sets every SAGAN gamma of the model to `value`. */
function setGamma(model: VaeModel, value: number): void {
  const flat = model.readFlat();
  let off = 0;
  for (const sp of model.specs) {
    if (sp.name.endsWith('.gamma')) flat[off] = value;
    off += sp.shape.reduce((a, b) => a * b, 1);
  }
  model.assignFlat(flat);
}

/** One agreement test per case (ava test.serial), in the table style of the graph-step test files. */
export function agreementTests(cases: readonly AgreementCase[]): void {
  for (const c of cases) {
  test.serial(`graph and eager steps agree over ${c.steps ?? STEPS} steps: ${c.title}`, (t) => {
    const config = resolveModelConfig({ imageSize: 32, latentSize: 4, ...c.model });
    const adam: AdamConfig = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, ...c.adam };
    const eager = new VaeModel(config, 7, { channels: 1, factors: createBars().factors });
    const eagerOpt = new Adam(eager.params, adam, eager.groups);
    const g = pair(config, adam, c.kernel);
    if (c.gamma !== undefined) {
      setGamma(eager, c.gamma);
      setGamma(g.model, c.gamma);
      g.graph.loadFrom(g.opt);
    }
    const names = scalarNames(eager);
    try {
      const bs = batches(c.steps ?? STEPS, config.variant === 'dcign' ? 'dcign' : 'iid');
      if (config.variant === 'dcign') t.true(new Set(bs.map((b) => b.variedFactor)).size > 1, 'the batches vary more than one factor');
      for (const [s, b] of bs.entries()) {
        const { grads, scalars } = computeGradients(eager, b, s, 0, true);
        applyGradients(eagerOpt, grads);
        const e = readScalars(eager, scalars!);
        const v = g.graph.train(g.opt, b, s, 0, true)!;
        t.is(v.length, names.length);
        // stated tolerance: every loss part within 1e-5 relative (1e-6 absolute near zero), relative to the terms it
        // is the difference of where the case names them (scales)
        names.forEach((n, i) => {
          const diff = Math.abs((v[i] as number) - (e[n] as number));
          const scale = Math.abs(e[n] as number) + (c.scales?.[n] ?? 0);
          t.true(diff <= 1e-5 * scale + 1e-6, `step ${s} ${n}: graph ${v[i]} eager ${e[n]}`);
        });
      }
      g.graph.storeTo(g.opt);
      t.is(g.opt.t, eagerOpt.t);
      const a = eager.readFlat();
      const b = g.model.readFlat();
      let maxDiff = 0;
      let sumDiff = 0;
      let beyond = 0;
      for (let i = 0; i < a.length; i++) {
        const d = Math.abs((a[i] as number) - (b[i] as number));
        maxDiff = Math.max(maxDiff, d);
        sumDiff += d;
        if (d > adam.learningRate / 10) beyond += 1;
      }
      // tolerances derived at ROUNDING above
      const moved = absDiff(a, initial(config)).mean;
      t.true(beyond <= Math.max(1, a.length * 1e-4), `${beyond} of ${a.length} parameters differ by more than lr / 10 (max ${maxDiff})`);
      t.true(maxDiff <= 2 * adam.learningRate * (c.steps ?? STEPS), `max |graph - eager| ${maxDiff}`);
      t.true(sumDiff / a.length <= ROUNDING * moved, `mean |graph - eager| ${sumDiff / a.length} vs ${ROUNDING} x mean movement ${moved}`);
      t.not(checksum(b), checksum(initial(config)), 'the graph step trained nothing');
    } finally {
      g.graph.dispose();
      g.opt.dispose();
      g.model.dispose();
      eagerOpt.dispose();
      eager.dispose();
    }
  });
}

}

/** Largest and mean |a[i] - b[i]|. */
export function absDiff(a: Float32Array, b: Float32Array): { max: number; mean: number } {
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

export function checksum(x: Float32Array): number {
  return x.reduce((s, v) => s + v, 0);
}

export function initial(config: ModelConfig): Float32Array {
  const m = new VaeModel(config, 7, { channels: 1, factors: createBars().factors });
  const v = m.readFlat();
  m.dispose();
  return v;
}
