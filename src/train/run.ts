// runTraining: one model, one replica (or one of R data-parallel replicas when hooks.reducer is given).
// Reads top to bottom: config -> data -> model -> optimiser -> resume -> loop -> final checkpoint -> evaluation.
//
// Per step: computeGradients -> reducer.allReduceMean (data parallel only) -> applyGradients -> dispose; with the
// graph step (src/train/graph-step.ts, the default where the model has one) the same split in one or two session runs.
// Device syncs happen only at log steps (losses), checkpoints (parameters), consistency checks and with a reducer
// (the flat gradient goes through host memory to the ring all-reduce).
// Rank 0 alone writes checkpoints and summary.json; every rank logs through hooks.onLog (callers decide who prints).
// At cfg.evalSteps rank 0 also computes the held-out ELBO (its peers wait for it at the next all-reduce).
import { existsSync } from 'node:fs';
import { appendFile, mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createSampler, openDataset } from '../data/index.js';
import type { FactorDataset } from '../data/types.js';
import type { GradientReducer } from './gradient-reducer.js';
import { mixSeed } from '../random.js';
import { readFlat, type ParamCounts } from '../model/architecture.js';
import { VaeModel } from '../model/vae.js';
import { clampContribution } from '../model/dcign.js';
import { Adam } from './adam.js';
import { checksumOf, loadCheckpoint, resolveCheckpointDir, saveCheckpoint, CHECKPOINT_FORMAT } from './checkpoint.js';
import { resolveTrainConfig, type TrainConfig, type TrainConfigInput } from './config.js';
import { faultPoint } from '../fault/point.js';
import { evaluateElbo, heldOutScalars, type EvalResult } from './evaluate.js';
import { GraphStep, type StepExecution } from './graph-step.js';
import {
  applyFlatGradients,
  applyGradients,
  computeGradients,
  localClampTarget,
  flattenGradients,
  namedScalars,
  parameterChecksum,
  readScalars,
} from './step.js';

/** Salt for the weight initialisation seed (weights come from Rng(mixSeed(seed, INIT_SALT)), never from tf.random). */
export const INIT_SALT = 0x1417;

export interface TrainHooks {
  /** Data-parallel gradient averaging; absent = train alone. */
  readonly reducer?: GradientReducer;
  /** Called at log steps with the step count completed and the losses of that step. */
  onLog?(step: number, scalars: Record<string, number>): void;
  onCheckpoint?(step: number, path: string): void;
  /** Abort: the loop stops after the current step, writes a checkpoint and returns status 'aborted'. */
  readonly signal?: AbortSignal;
  /** Use this dataset instead of openDataset(config.dataset) (tests; callers that hold one already). */
  readonly dataset?: FactorDataset;
}

export interface TrainResult {
  readonly status: 'completed' | 'aborted';
  /** Optimiser steps completed. */
  readonly step: number;
  readonly runDir: string;
  readonly lastCheckpoint?: string;
  readonly lastScalars?: Record<string, number>;
  readonly eval?: EvalResult;
  readonly wallSeconds: number;
  /** Data-parallel replicas that trained it (1: alone). */
  readonly replicas: number;
  /** Trained parameters: encoder/decoder, FactorVAE's discriminator, total. */
  readonly parameters?: ParamCounts;
  /** Global images per second over this run's steps (all replicas). */
  readonly imagesPerSecond: number;
  readonly paramChecksum: number;
  /** Whether the step ran as one TensorFlow graph or op by op, and why not as a graph. */
  readonly stepExecution: StepExecution;
}

export class DivergedError extends Error {
  constructor(
    readonly step: number,
    readonly lastCheckpoint: string | undefined,
    what: string,
  ) {
    super(
      `diverged at step ${step} (${what}); ` +
        (lastCheckpoint ? `last good checkpoint: ${lastCheckpoint}` : 'no checkpoint was written before it') +
        '. Lower the learning rate or set clipNorm.',
    );
    this.name = 'DivergedError';
  }
}

export async function runTraining(config: TrainConfig | TrainConfigInput, hooks: TrainHooks = {}): Promise<TrainResult> {
  const t0 = performance.now();
  const cfg = resolveTrainConfig(config as TrainConfigInput);
  const runDir = resolve(cfg.runDir);
  const reducer = hooks.reducer;
  const rank = reducer?.rank ?? 0;
  const worldSize = reducer?.worldSize ?? 1;
  const isChief = rank === 0;

  // Data: every replica computes the same global batch order and takes its slice (src/data/sampler.ts).
  const dataset = hooks.dataset ?? openDataset(cfg.dataset, { imageSize: cfg.model.imageSize });
  if (dataset.imageSize !== cfg.model.imageSize) {
    throw new Error(`dataset '${dataset.name}' has ${dataset.imageSize}x${dataset.imageSize} images, model.imageSize is ${cfg.model.imageSize}`);
  }
  if (cfg.model.channels !== undefined && cfg.model.channels !== dataset.channels) {
    throw new Error(`dataset '${dataset.name}' has ${dataset.channels} channels, model.channels is ${cfg.model.channels}`);
  }
  const samplerKind = cfg.sampler ?? (cfg.model.variant === 'dcign' ? 'dcign' : 'iid');
  const sampler = createSampler(dataset, {
    kind: samplerKind,
    batchSize: cfg.batchSize,
    seed: cfg.seed,
    rank,
    worldSize,
    ...(cfg.variedFactor === undefined ? {} : { variedFactor: cfg.variedFactor }),
  });

  // Model and optimiser.
  const model = new VaeModel(cfg.model, mixSeed(cfg.seed, INIT_SALT), { factors: dataset.factors, channels: dataset.channels });
  // FactorVAE's discriminator is a second parameter group with its own Adam settings (model.groups).
  const optimizer = new Adam(
    model.params,
    {
      learningRate: cfg.learningRate,
      beta1: cfg.adam.beta1,
      beta2: cfg.adam.beta2,
      epsilon: cfg.adam.epsilon,
      clipNorm: cfg.clipNorm,
    },
    model.groups,
  );
  const parameters = model.paramCounts();
  const adamConfig = {
    learningRate: cfg.learningRate,
    beta1: cfg.adam.beta1,
    beta2: cfg.adam.beta2,
    epsilon: cfg.adam.epsilon,
    clipNorm: cfg.clipNorm,
  };
  // The step as one TensorFlow graph where this model has one; otherwise eager, and the reason is reported.
  const graphOrReason = cfg.stepMode === 'eager' ? 'stepMode is eager' : GraphStep.create(model, adamConfig, cfg.batchSize / worldSize);
  const graph = typeof graphOrReason === 'string' ? undefined : graphOrReason;
  const stepExecution: StepExecution = graph === undefined ? { mode: 'eager', reason: graphOrReason as string } : { mode: 'graph' };
  // parameters and moments live in the graph's variables while it trains: bring them to the eager model to read them
  const syncFromGraph = (): void => graph?.storeTo(optimizer);

  let step = 0;
  let lastCheckpoint: string | undefined;
  let lastScalars: Record<string, number> | undefined;
  try {
    if (cfg.resumeFrom !== undefined) {
      const ck = await loadCheckpoint(cfg.resumeFrom);
      const expected = model.specs;
      const mismatch = ck.state.params.findIndex(
        (p, i) => p.name !== expected[i]?.name || p.shape.join('x') !== expected[i]?.shape.join('x'),
      );
      if (mismatch >= 0 || ck.state.params.length !== expected.length) {
        throw new Error(`checkpoint ${cfg.resumeFrom} holds a different architecture than this config (parameter ${mismatch})`);
      }
      model.assignFlat(ck.params);
      optimizer.restore(ck.adamM, ck.adamV, ck.state.adamT);
      sampler.restore(ck.state.sampler);
      step = ck.state.step;
      lastCheckpoint = resolveCheckpointDir(cfg.resumeFrom); // the checkpoint itself, also when given its run folder
    }
    if (reducer !== undefined) {
      // Same initial parameters everywhere (they already are, from the shared seed; this makes it a guarantee).
      const flat = model.readFlat();
      await reducer.broadcast(flat, step);
      model.assignFlat(flat);
    }
    graph?.loadFrom(optimizer);
    if (isChief) {
      await mkdir(runDir, { recursive: true });
      await writeAtomic(join(runDir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
      // The folder never contradicts itself across resumes: summary.json says this segment is running from its
      // step until it ends, and history.jsonl keeps every segment's settings and outcome.
      const started = { status: 'running', step, parameters, stepExecution, ...(cfg.resumeFrom === undefined ? {} : { resumedFrom: cfg.resumeFrom }) };
      await writeAtomic(join(runDir, 'summary.json'), JSON.stringify({ config: cfg, result: started }, null, 2) + '\n');
      await appendHistory(runDir, { event: 'start', step, config: cfg });
    }

    const writeCheckpoint = async (): Promise<void> => {
      if (!isChief) return;
      syncFromGraph();
      const params = model.readFlat(); // note: a device sync
      const sum = checksumOf(params);
      if (!Number.isFinite(sum)) throw new DivergedError(step, lastCheckpoint, 'non-finite parameters');
      const st = optimizer.state();
      const path = await saveCheckpoint(runDir, {
        state: {
          format: CHECKPOINT_FORMAT,
          step,
          adamT: optimizer.t,
          sampler: sampler.position(),
          params: model.specs.map((s) => ({ name: s.name, shape: s.shape })),
          checksum: sum,
        },
        config: cfg,
        params,
        adamM: readFlat([st.m]),
        adamV: readFlat([st.v]),
      });
      lastCheckpoint = path;
      hooks.onCheckpoint?.(step, path);
    };

    const evalAt = new Set(cfg.evalSteps ?? []);
    const checkpointAt = new Set(cfg.checkpointSteps ?? []);
    let heldOut: { step: number; result: EvalResult } | undefined; // the latest, reused at the end when it is the last step
    const startStep = step;
    let mark = performance.now();
    let markStep = step;
    let status: TrainResult['status'] = 'completed';
    while (step < cfg.steps) {
      if (hooks.signal?.aborted) {
        status = 'aborted';
        break;
      }
      const batch = sampler.next();
      const isLog = (step + 1) % cfg.logEvery === 0 || step + 1 === cfg.steps || evalAt.has(step + 1);
      let values: Record<string, number> | undefined;
      // DCIGN with replicas: the clamp target is the global batch's, so each replica's own goes through the ring
      // first (2L floats; every rank has the same varied factor, so all call it or none)
      let clampTarget: Float32Array | undefined;
      if (reducer !== undefined && cfg.model.variant === 'dcign' && batch.variedFactor !== undefined) {
        const local = graph !== undefined ? graph.localClampTarget(batch, cfg.seed) : localClampTarget(model, batch, cfg.seed);
        clampTarget = clampContribution(local, cfg.model.dcign?.clamp ?? 'mean', rank, worldSize);
        await reducer.allReduceMean(clampTarget, step);
      }
      if (graph !== undefined && reducer === undefined) {
        const v = graph.train(optimizer, batch, step, cfg.seed, isLog); // note: a device sync on log steps only
        if (v !== undefined) values = namedScalars(model, v);
      } else if (graph !== undefined && reducer !== undefined) {
        const { flat, scalars } = graph.gradients(batch, step, cfg.seed, isLog, clampTarget); // note: a device sync, for the ring
        await reducer.allReduceMean(flat, step);
        faultPoint('after-allreduce', step + 1); // tests: a replica killed between the exchange and the update
        graph.apply(optimizer, flat);
        if (scalars !== undefined) values = namedScalars(model, scalars);
      } else {
        const { grads, scalars } = computeGradients(model, batch, step, cfg.seed, isLog, clampTarget);
        if (reducer === undefined) {
          applyGradients(optimizer, grads);
        } else {
          const flat = flattenGradients(grads); // note: a device sync, needed to hand the gradient to the ring
          for (const g of grads) g.dispose();
          await reducer.allReduceMean(flat, step);
          faultPoint('after-allreduce', step + 1);
          applyFlatGradients(optimizer, flat);
        }
        if (scalars !== undefined) values = readScalars(model, scalars); // note: a device sync, log steps only
      }
      step += 1;

      if (values !== undefined) {
        const s = values;
        if (!Number.isFinite(s.loss)) throw new DivergedError(step, lastCheckpoint, `loss ${s.loss}`);
        if (isChief && evalAt.has(step)) {
          syncFromGraph(); // the graph step keeps the parameters in its variables
          heldOut = { step, result: evaluateElbo(model, dataset, cfg.seed, cfg.evalBatches, cfg.evalBatchSize) };
          Object.assign(s, heldOutScalars(heldOut.result));
        }
        const now = performance.now();
        const stepsPerS = ((step - markStep) * 1000) / Math.max(1e-9, now - mark);
        mark = now;
        markStep = step;
        lastScalars = { ...s, steps_per_s: stepsPerS, images_per_s: stepsPerS * cfg.batchSize };
        if (cfg.model.variant === 'annealed-vae') lastScalars.capacity = model.capacityAt(step - 1);
        hooks.onLog?.(step, lastScalars);
        await new Promise<void>((r) => setImmediate(r)); // let signals and I/O in
      }
      if (reducer !== undefined && cfg.consistencyEvery > 0 && step % cfg.consistencyEvery === 0) {
        syncFromGraph();
        await reducer.checkConsistent(parameterChecksum(model), step);
      }
      const checkpointDue = (cfg.checkpointEvery > 0 && step % cfg.checkpointEvery === 0) || checkpointAt.has(step);
      if (checkpointDue && step < cfg.steps) await writeCheckpoint();
    }
    const stepsDone = step - startStep;
    const trainSeconds = (performance.now() - t0) / 1000;
    if (step !== startStep || lastCheckpoint === undefined) await writeCheckpoint();
    syncFromGraph();

    let evalResult: EvalResult | undefined;
    if (isChief && status === 'completed' && cfg.evalBatches > 0) {
      evalResult = heldOut?.step === step ? heldOut.result : evaluateElbo(model, dataset, cfg.seed, cfg.evalBatches, cfg.evalBatchSize);
    }
    const result: TrainResult = {
      status,
      step,
      runDir,
      ...(lastCheckpoint === undefined ? {} : { lastCheckpoint }),
      ...(lastScalars === undefined ? {} : { lastScalars }),
      ...(evalResult === undefined ? {} : { eval: evalResult }),
      replicas: worldSize,
      parameters,
      wallSeconds: (performance.now() - t0) / 1000,
      imagesPerSecond: (stepsDone * cfg.batchSize) / Math.max(1e-9, trainSeconds),
      paramChecksum: parameterChecksum(model),
      stepExecution,
    };
    if (isChief) {
      await writeAtomic(join(runDir, 'summary.json'), JSON.stringify({ config: cfg, result }, null, 2) + '\n');
      await appendHistory(runDir, { event: result.status, step, ...(lastCheckpoint === undefined ? {} : { lastCheckpoint }) });
    }
    return result;
  } catch (err) {
    if (isChief && existsSync(join(runDir, 'config.json'))) {
      // record the failure where the run lives (a diverged run most of all: its last good checkpoint is the way on)
      const status = err instanceof DivergedError ? 'diverged' : 'failed';
      const failed = { status, step, error: (err as Error).message, ...(lastCheckpoint === undefined ? {} : { lastCheckpoint }) };
      await writeAtomic(join(runDir, 'summary.json'), JSON.stringify({ config: cfg, result: failed }, null, 2) + '\n').catch(() => undefined);
      await appendHistory(runDir, { event: status, ...failed }).catch(() => undefined);
    }
    throw err;
  } finally {
    graph?.dispose();
    optimizer.dispose();
    model.dispose();
  }
}

/** One line per segment event in <runDir>/history.jsonl (start with its config; completed, aborted, diverged, failed). */
async function appendHistory(runDir: string, entry: Record<string, unknown>): Promise<void> {
  await appendFile(join(runDir, 'history.jsonl'), `${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}
