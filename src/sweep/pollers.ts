// Is any worker serving a sweep's task queues? Temporal knows (DescribeTaskQueue lists the pollers it has seen in
// the last few minutes). Without one, queries and updates wait ~30 s and fail, signals are never handled and the
// sweep never moves, so the CLI asks first and says at once what to start.
import type { Client } from '@temporalio/client';

import { controlQueue } from '../contract/index.js';

export interface QueueWorkers {
  /** Pollers of workflow tasks on the spec's queue (they run sweepWorkflow and trialWorkflow). */
  readonly workflow: number;
  /** Pollers of activities on the spec's queue: training slots. */
  readonly training: number;
  /** Pollers of activities on `${queue}.control`: MLflow runs, evaluation, summaries. */
  readonly control: number;
}

const WORKFLOW_TASKS = 1; // temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
const ACTIVITY_TASKS = 2; // TASK_QUEUE_TYPE_ACTIVITY

export async function queueWorkers(client: Client, namespace: string, taskQueue: string): Promise<QueueWorkers> {
  const count = async (name: string, taskQueueType: number): Promise<number> => {
    const res = await client.workflowService.describeTaskQueue({ namespace, taskQueue: { name }, taskQueueType });
    return res.pollers?.length ?? 0;
  };
  const [workflow, training, control] = await Promise.all([
    count(taskQueue, WORKFLOW_TASKS),
    count(taskQueue, ACTIVITY_TASKS),
    count(controlQueue(taskQueue), ACTIVITY_TASKS),
  ]);
  return { workflow, training, control };
}

/** What is missing and the command that fixes it, or undefined when every queue has a poller. */
export function missingWorkers(taskQueue: string, w: QueueWorkers): string | undefined {
  const fix = `start one with \`dcign worker --task-queue ${taskQueue}\``;
  if (w.workflow === 0) return `no worker is polling task queue ${taskQueue}; ${fix}`;
  const missing = [
    ...(w.training === 0 ? [`training activities (${taskQueue})`] : []),
    ...(w.control === 0 ? [`bookkeeping activities (${controlQueue(taskQueue)})`] : []),
  ];
  if (missing.length === 0) return undefined;
  return `workers poll task queue ${taskQueue} for workflows, but none takes its ${missing.join(' or ')}; ${fix}, which serves both`;
}

export async function noWorkerMessage(client: Client, namespace: string, taskQueue: string): Promise<string | undefined> {
  return missingWorkers(taskQueue, await queueWorkers(client, namespace, taskQueue));
}

/** Thrown instead of waiting for a query or update that no worker can answer. */
export class NoWorkerError extends Error {
  constructor(
    readonly sweepName: string,
    readonly taskQueue: string,
    readonly detail: string,
  ) {
    super(`sweep '${sweepName}' is running in Temporal but cannot be asked for its progress: ${detail}`);
    this.name = 'NoWorkerError';
  }
}
