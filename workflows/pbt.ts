// pbtWorkflow: population-based training (Jaderberg et al. 2017, arXiv:1711.09846) as a sweep, `sweep/<name>`, for a
// spec with search.pbt. Members are trials: each its own MLflow run under the sweep's parent run, trained by the
// trial workflow. Generation by generation, every member trains to the next boundary (./pbt-members.ts), then the
// bottom quantile exploit a top member's checkpoint and explore its hyperparameters (./pbt-boundary.ts).
//
// Design: one trial workflow per member per generation, continuing the member's run. That is the trial's existing
// pause/resume path (a pause ends a trial `paused` at its checkpoint with its run open; a later workflow of the same
// trial resumes from a given checkpoint in the same run), so PBT needs only two things from the trial: end `paused`
// at the generation's last step, and take the given checkpoint (a donor's copy) over its run's own of the same step
// (TrialInput.pbt). A long-lived trial that pauses at boundaries would need a new wait-for-new-hyperparameters
// protocol between the two workflows and new trainer input mid-run; this needs neither. The resumed trainer starts
// at the boundary step + 1, so each member's loss history lands in its own run exactly once, and a donor's history
// is never copied: only its checkpoint is.
//
// The opening, the progress query, the trials' reports and the summary are the sweep's own (sweep-lifecycle.ts,
// sweep-handlers.ts); `sweep cancel` cancels the population. Workflow code: deterministic.
import { CancellationScope, condition, isCancellation } from '@temporalio/workflow';

import { pbtGenerations, pbtMembers, startingHyperparameters } from '../src/sweep/pbt-plan.js';
import type { PbtState, SweepProgress } from '../src/contract/types.js';
import type { SweepInput, SweepWorkflow } from '../src/contract/index.js';
import { exploitAndExplore, pbtActivities } from './pbt-boundary.js';
import { trainGeneration, type MemberCursor } from './pbt-members.js';
import { setSweepHandlers } from './sweep-handlers.js';
import { finishSweep, openSweep } from './sweep-lifecycle.js';
import { TERMINAL, newSweepRun, settle, sweepActivities, type SweepRun } from './sweep-state.js';

export async function pbtWorkflow(input: SweepInput): Promise<SweepProgress> {
  const { spec } = input;
  const control = sweepActivities(spec);
  const copy = pbtActivities(spec);
  const r = newSweepRun({ ...input, trials: pbtMembers(spec) });
  r.queue.splice(0); // members are started generation by generation, not from the sweep's queue
  setSweepHandlers(r);
  const generations = pbtGenerations(spec);
  const start = startingHyperparameters(spec);
  const state: PbtState = (r.progress.pbt ??= {
    generations,
    generation: 0,
    members: r.progress.trials.map((t, member) => ({ member, key: t.key, lineage: [{ generation: 0, step: 0, parent: member, hyperparameters: start }] })),
  });
  const cursors: MemberCursor[] = state.members.map(() => ({ nextTrialGeneration: 0, checkpoint: undefined }));

  const work = new CancellationScope();
  try {
    await openSweep(r, control);
    const run = work.run(async () => {
      for (let g = 0; g < generations; g++) {
        state.generation = g;
        const live = state.members.filter((m) => !TERMINAL.has(r.byKey.get(m.key)?.state ?? 'failed'));
        if (live.length === 0) break;
        await inPool(spec.maxConcurrentTrials, live, (m) => trainGeneration(r, control, m, cursors[m.member] as MemberCursor, g, generations));
        if (g < generations - 1) await exploitAndExplore(r, copy, state, cursors, g);
      }
      state.generation = generations;
    });
    await Promise.race([run, condition(() => r.cancelRequested).then(() => work.cancel())]);
    await run;
    r.progress.state = 'completed';
  } catch (err) {
    if (!isCancellation(err)) throw err;
    await cancelPopulation(r, control);
  }
  return await finishSweep(r, control);
}

/** Members paused at a boundary keep an open MLflow run: closed as KILLED; every member not ended is cancelled. */
async function cancelPopulation(r: SweepRun, control: ReturnType<typeof sweepActivities>): Promise<void> {
  await CancellationScope.nonCancellable(async () => {
    for (const t of r.progress.trials) {
      if (TERMINAL.has(t.state)) continue;
      if (t.state === 'paused' && t.mlflowRunId) {
        await control.finishTrialRun({ runId: t.mlflowRunId, status: 'KILLED', metrics: t.metrics, error: r.cancelReason }).catch(() => undefined);
      }
      settle(t, 'cancelled', r.cancelReason);
    }
    r.progress.state = 'cancelled';
  });
}

/** Runs `fn` over `items` with at most `n` at a time, in order (slots: maxConcurrentTrials). */
async function inPool<T>(n: number, items: readonly T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, lane));
}

// The signature the contract promises to clients that start this workflow by name.
const _conforms: SweepWorkflow = pbtWorkflow;
