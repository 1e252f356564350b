// sweepWorkflow: expands the search space, opens the MLflow experiment and parent run, and runs up to
// maxConcurrentTrials trial workflows at a time. A failed trial is recorded, never fatal. Pause holds new trials and
// pauses running ones (each stops at a step boundary with a checkpoint and frees its slot), resume continues them from
// there, cancel stops every running trial (and its replicas), retry queues failed trials again. Trials report back by
// signal, so the sweep can continue as new at any moment without losing track of trials in flight. A run that
// continues an ended one (input.resumed) reuses its MLflow runs and starts only the trials it was given in its queue.
// The phases live beside it: sweep-state.ts (what it knows), sweep-handlers.ts (its messages), sweep-trials.ts (the
// child workflows), sweep-lifecycle.ts (open, continue-as-new, cancel, finish), early-stopping.ts (ASHA), optimize.ts
// (the search). Their commands, their order and their arguments are what recorded histories replay
// (test/workflows/replay-compat).
import { condition, isCancellation } from '@temporalio/workflow';

import type { SweepProgress } from '../src/contract/types.js';
import type { SweepInput, SweepWorkflow } from '../src/contract/index.js';
import { setSweepHandlers } from './sweep-handlers.js';
import { cancelSweep, continueSweepAsNew, finishSweep, openSweep, startSearch } from './sweep-lifecycle.js';
import { allEnded, historyFull, newSweepRun, slotFree, sweepActivities } from './sweep-state.js';
import { pauseTrials, startQueuedTrials } from './sweep-trials.js';

export async function sweepWorkflow(input: SweepInput): Promise<SweepProgress> {
  const control = sweepActivities(input.spec);
  const r = newSweepRun(input);
  setSweepHandlers(r);

  try {
    await openSweep(r, control);
    r.search = startSearch(r);
    for (;;) {
      await condition(() => r.cancelRequested || r.pauseTrialsDue || allEnded(r) || slotFree(r) || historyFull(r));
      if (r.cancelRequested) break;
      if (r.pauseTrialsDue) {
        await pauseTrials(r);
        continue;
      }
      if (allEnded(r)) break;
      if (historyFull(r)) await continueSweepAsNew(r);
      await startQueuedTrials(r);
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    r.cancelRequested = true;
    r.cancelReason = 'sweep workflow cancelled';
  }

  if (r.cancelRequested) await cancelSweep(r, control);
  else r.progress.state = 'completed';
  return await finishSweep(r, control);
}

// The signature the contract promises to clients that start this workflow by name.
const _conforms: SweepWorkflow = sweepWorkflow;
