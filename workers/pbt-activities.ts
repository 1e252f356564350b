// The PBT workflow's activities (workflows/pbt.ts): exploit's checkpoint copy from a donor's MLflow run into the
// member's, and a member's lineage for one generation on its run (tags, and metrics at the step they take effect).
// Both are idempotent: a retry after a worker died half-way finds the copy done, and logs no metric point twice.
import { ApplicationFailure, heartbeat } from '@temporalio/activity';

import { faultPoint } from '../src/fault/point.js';
import { CheckpointStore } from '../src/tracking/index.js';
import { parseCheckpointUri } from '../src/contract/index.js';
import type { CheckpointRef } from '../src/contract/index.js';
import type { ActivityDeps } from './activity-deps.js';

/** Where member `member`'s copy for `generation` lives in its run: one name per member and generation. */
export function pbtCopyPath(member: number, generation: number): string {
  return `pbt/member-${member}-g${String(generation).padStart(4, '0')}`;
}

/** The metric a member's run carries for its generation, at the step it starts from (the lineage in MLflow). */
export const PBT_GENERATION_METRIC = 'pbt/generation';

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types
export function createPbtActivities(deps: ActivityDeps) {
  /**
   * Copies the donor's checkpoint into the member's run under pbtCopyPath; `fresh` is false when a whole copy was
   * already there (a retry). Untracked sweeps resume from the donor's local checkpoint as it is (one host only).
   */
  async function copyPbtCheckpoint(req: { from: CheckpointRef; toRunId?: string; member: number; generation: number; seed: number }): Promise<{ checkpoint: CheckpointRef; fresh: boolean }> {
    const source = parseCheckpointUri(req.from.uri);
    if (!deps.mlflow || !req.toRunId || source.kind !== 'mlflow') return { checkpoint: req.from, fresh: false };
    const from = new CheckpointStore(deps.mlflow, source.runId);
    const to = new CheckpointStore(deps.mlflow, req.toRunId);
    const dest = pbtCopyPath(req.member, req.generation);
    // The donor's weights and optimiser state; the member's own data stream (its sampler seed, at the same step).
    const rewrite = (name: string, bytes: Buffer): Buffer => (name === 'state.json' ? withSamplerSeed(bytes, req.seed) : bytes);
    const fresh = await to.copyFrom(from, source.artifactPath, dest, { rewrite, onFile: () => heartbeat() });
    const manifest = await to.readManifest(dest);
    if (manifest.step !== req.from.step) {
      throw ApplicationFailure.nonRetryable(`the donor's checkpoint ${req.from.uri} holds step ${manifest.step}, the PBT boundary is ${req.from.step}`, 'BadCheckpoint');
    }
    faultPoint('pbt-copied', manifest.step); // tests: a worker that dies with the copy whole, before it answers
    return { checkpoint: { step: manifest.step, uri: to.uri(dest) }, fresh };
  }

  /**
   * A member's generation on its run: tags pbt.member, pbt.generation, pbt.parent (the newest), and metrics
   * pbt/generation, pbt/parent, pbt/<hyperparameter> (and pbt/fitness once measured) at `step`, the step its
   * hyperparameters take effect from. Logged once: a retry finds pbt/generation at that step and logs nothing new.
   */
  async function recordPbtGeneration(req: {
    runId?: string;
    member: number;
    generation: number;
    step: number;
    parent: number;
    parentKey: string;
    hyperparameters: Record<string, number>;
    fitness?: { metric: string; value: number; step: number };
    /** Workflow time (ms): the metrics' timestamp, the same on every retry. */
    at: number;
  }): Promise<void> {
    const mlflow = deps.mlflow;
    if (!mlflow || !req.runId) return;
    const runId = req.runId;
    await mlflow.setTags(runId, { 'pbt.member': String(req.member), 'pbt.generation': String(req.generation), 'pbt.parent': req.parentKey });
    const logged = async (key: string, step: number): Promise<boolean> => (await mlflow.getMetricHistory(runId, key)).some((p) => p.step === step);
    if (!(await logged(PBT_GENERATION_METRIC, req.step))) {
      const hp = Object.fromEntries(Object.entries(req.hyperparameters).map(([k, v]) => [`pbt/${k}`, v]));
      // One batch at the workflow's timestamp: a retry after a lost answer writes the identical rows, which MLflow's
      // store keeps once (its primary key is key, timestamp, step, value).
      await mlflow.logMetrics(runId, { [PBT_GENERATION_METRIC]: req.generation, 'pbt/parent': req.parent, ...hp }, req.step, req.at);
    }
    if (req.fitness && Number.isFinite(req.fitness.value) && !(await logged('pbt/fitness', req.fitness.step))) {
      await mlflow.logMetrics(runId, { 'pbt/fitness': req.fitness.value }, req.fitness.step, req.at);
    }
  }

  return { copyPbtCheckpoint, recordPbtGeneration };
}

/**
 * A checkpoint's state.json with the sampler's seed replaced: the trainer resumes a sampler only with its own seed
 * (src/data/sampler.ts), and an exploiting member keeps drawing its own batches; the position (step, batch size) is
 * the donor's, the same at a shared boundary.
 */
function withSamplerSeed(bytes: Buffer, seed: number): Buffer {
  const state = JSON.parse(bytes.toString('utf8')) as { sampler?: { seed?: number } };
  if (!state.sampler) throw ApplicationFailure.nonRetryable('the donor checkpoint\'s state.json has no sampler position', 'BadCheckpoint');
  return Buffer.from(`${JSON.stringify({ ...state, sampler: { ...state.sampler, seed } }, null, 2)}\n`);
}
