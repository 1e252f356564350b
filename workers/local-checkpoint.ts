// A local folder holding a trial's checkpoint for an activity (fetched from MLflow when it is stored there), with
// failures as Temporal errors that say whether retrying can help.
import { ApplicationFailure } from '@temporalio/activity';

import type { CheckpointRef } from '../src/contract/index.js';
import { NoTrackingServerError } from './checkpoint-cache.js';
import type { CheckpointCache } from './checkpoint-cache.js';

/** A local folder holding `ref` (fetched from MLflow when it is stored there); failures say what to do. */
export async function localCheckpoint(checkpoints: CheckpointCache, ref: CheckpointRef, runDir: string): Promise<string> {
  try {
    return await checkpoints.localDir(ref, runDir);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    if (e instanceof NoTrackingServerError) throw ApplicationFailure.nonRetryable(e.message, 'BadConfig');
    throw ApplicationFailure.retryable(`cannot fetch checkpoint ${ref.uri} to ${runDir}: ${e.message}`, 'CheckpointUnavailable');
  }
}
