// One generation of one PBT member: its trial workflow trains from the member's checkpoint to the generation's
// boundary with the member's current hyperparameters (the trial's own resume path: it continues the member's MLflow
// run and ends `paused` there, or completes after the last generation), then the member's fitness at that checkpoint:
// a training loss or the held-out ELBO from the trial's last step, else an evaluation of the checkpoint (metrics only,
// as an early-stopping rung is evaluated: workflows/rung-evaluation.ts). Workflow code: deterministic.
import { ParentClosePolicy, WorkflowIdReusePolicy, executeChild, isCancellation, workflowInfo } from '@temporalio/workflow';

import { generationTrainConfig, pbtOf } from '../src/sweep/pbt-plan.js';
import { trialWorkflowId } from '../src/contract/index.js';
import type { CheckpointRef, TrialInput, TrialResult } from '../src/contract/index.js';
import type { PbtMember, TrialPlan, TrialStatus } from '../src/contract/types.js';
import type { Activities } from '../workers/activities.js';
import { failureMessage } from './failure-message.js';
import { settle, type SweepRun } from './sweep-state.js';
import { trialWorkflow } from './trial.js';

/** What a member's trial workflow needs to continue it: the trial generation to number on from. */
export interface MemberCursor {
  /** The trial generation the member's next workflow numbers its replica groups from. */
  nextTrialGeneration: number;
  /** Where the member continues: its own boundary checkpoint, or the copy of a donor's. */
  checkpoint: CheckpointRef | undefined;
}

/** Trains member `m` through generation `g`; returns its fitness there (undefined: not measurable, or it failed). */
export async function trainGeneration(r: SweepRun, control: Activities, member: PbtMember, cursor: MemberCursor, g: number, generations: number): Promise<number | undefined> {
  const { spec } = r;
  const pbt = pbtOf(spec);
  const t = r.byKey.get(member.key) as TrialStatus;
  const plan: TrialPlan = { key: t.key, params: t.params, seed: t.seed };
  const gen = member.lineage[g];
  if (!gen) throw new Error(`member ${member.member} has no lineage entry for generation ${g}`);
  const last = g === generations - 1;
  const input: TrialInput = {
    sweepName: spec.name,
    trial: plan,
    train: generationTrainConfig(spec, plan, gen.hyperparameters, g),
    replicas: spec.replicas,
    taskQueue: spec.taskQueue,
    evaluation: spec.evaluation,
    retry: spec.retry,
    checkpoints: spec.checkpoints,
    mlflow: {
      ...(r.progress.experimentId ? { experimentId: r.progress.experimentId } : {}),
      ...(r.progress.parentRunId ? { parentRunId: r.progress.parentRunId } : {}),
    },
    parentWorkflowId: workflowInfo().workflowId,
    searchAttributes: r.searchAttributes,
    ...(r.input.progressReportMs !== undefined ? { progressReportMs: r.input.progressReportMs } : {}),
    ...(g > 0 ? { resume: { generation: cursor.nextTrialGeneration, ...(cursor.checkpoint ? { checkpoint: cursor.checkpoint } : {}) } } : {}),
    pbt: { pauseAtEnd: !last },
  };
  t.state = 'running';
  t.startedAt ??= Date.now();
  let res: TrialResult;
  try {
    res = await executeChild(trialWorkflow, {
      workflowId: trialWorkflowId(spec.name, t.key),
      args: [input],
      taskQueue: spec.taskQueue,
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      // each generation is a new workflow of the same trial, as a resumed trial is
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    });
  } catch (err) {
    if (isCancellation(err)) throw err;
    settle(t, 'failed', `generation ${g}: ${failureMessage(err)}`);
    return undefined;
  }
  t.step = res.step;
  t.losses = res.losses;
  t.metrics = res.metrics;
  if (res.mlflowRunId) t.mlflowRunId = res.mlflowRunId;
  if (res.checkpointUri) {
    t.checkpointUri = res.checkpointUri;
    t.checkpointStep = res.step;
  }
  cursor.nextTrialGeneration = res.generations;
  cursor.checkpoint = res.checkpointUri ? { step: res.step, uri: res.checkpointUri } : undefined;
  if (res.state === 'paused') t.state = 'paused';
  else settle(t, res.state === 'completed' ? 'completed' : 'stopped', res.stopped, res.metrics);

  const fitness = await measure(r, control, t, res, pbt.fitness.metric);
  gen.fitness = fitness;
  await control.recordPbtGeneration({
    ...(t.mlflowRunId ? { runId: t.mlflowRunId } : {}),
    member: member.member,
    generation: g,
    step: gen.step,
    parent: gen.parent,
    parentKey: r.progress.pbt?.members[gen.parent]?.key ?? member.key,
    hyperparameters: { ...gen.hyperparameters },
    ...(fitness !== undefined ? { fitness: { metric: pbt.fitness.metric, value: fitness, step: res.step } } : {}),
    at: Date.now(),
  });
  return fitness;
}

/** The fitness at the trial's boundary checkpoint: from its last step's scalars or final metrics, else evaluated. */
async function measure(r: SweepRun, control: Activities, t: TrialStatus, res: TrialResult, metric: string): Promise<number | undefined> {
  const known = res.losses[metric] ?? res.metrics[metric];
  if (known !== undefined) return Number.isFinite(known) ? known : undefined;
  if (!res.checkpointUri) return undefined;
  const metrics = await control.evaluate({
    trialKey: t.key,
    checkpoint: { step: res.step, uri: res.checkpointUri },
    runDir: `${r.spec.name}/${t.key}`,
    dataset: r.spec.dataset,
    evaluation: { ...r.spec.evaluation, enabled: true },
    seed: t.seed,
    metricsOnly: true,
    ...(t.mlflowRunId ? { mlflowRunId: t.mlflowRunId } : {}),
  });
  const v = metrics[metric];
  return v !== undefined && Number.isFinite(v) ? v : undefined;
}
