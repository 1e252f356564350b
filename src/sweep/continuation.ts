// What a new run of an ended sweep starts from (`dcign sweep resume` / `retry`): the ended run's progress, with the
// trials to run again set back to pending and queued. Completed trials keep their runs and results and are never
// queued. Pure: the client computes it, the sweep workflow takes it as input.resumed.
import type { SweepProgress, TrialStatus } from '../contract/types.js';

export type Continuation =
  /** Every trial that did not end completed or failed (pending, running, paused, cancelled...). */
  | { readonly kind: 'resume' }
  /** Failed trials: the named ones, or every failed one when none is named. */
  | { readonly kind: 'retry'; readonly keys: readonly string[] };

export interface ContinuedSweep {
  readonly progress: SweepProgress;
  readonly queue: readonly string[];
}

/** The seed of the continuing run; throws naming the problem when there is nothing to run again. */
export function continueSweep(ended: SweepProgress, how: Continuation): ContinuedSweep {
  const progress = structuredClone(ended);
  const chosen = how.kind === 'resume' ? progress.trials.filter((t) => t.state !== 'completed' && t.state !== 'failed') : failedTrials(progress, how.keys);
  if (chosen.length === 0) {
    const failed = progress.trials.filter((t) => t.state === 'failed').length;
    const completed = progress.trials.filter((t) => t.state === 'completed').length;
    throw new Error(
      `sweep '${ended.name}' has nothing to ${how.kind}: ${completed} trial(s) completed, ${failed} failed` +
        (how.kind === 'resume' && failed > 0 ? `; \`dcign sweep retry ${ended.name}\` reruns the failed ones` : ''),
    );
  }
  for (const t of chosen) requeue(t);
  progress.state = 'running';
  return { progress, queue: chosen.map((t) => t.key) };
}

function failedTrials(p: SweepProgress, keys: readonly string[]): TrialStatus[] {
  if (keys.length === 0) return p.trials.filter((t) => t.state === 'failed');
  return keys.map((k) => {
    const t = p.trials.find((x) => x.key === k);
    if (!t) throw new Error(`sweep '${p.name}' has no trial '${k}'; \`dcign sweep status ${p.name}\` lists its trials`);
    if (t.state !== 'failed') throw new Error(`trial '${k}' of sweep '${p.name}' is ${t.state}, not failed; only failed trials are retried`);
    return t;
  });
}

/** Back to pending, keeping what it continues from: its checkpoint, generation, step and MLflow run. */
function requeue(t: TrialStatus): void {
  t.state = 'pending';
  delete t.error;
  delete t.endedAt;
  if (t.checkpointStep !== undefined) t.step = t.checkpointStep;
}
