// trialWorkflow: one model of a sweep. Creates its MLflow child run, trains R data-parallel replicas as activities
// with the workflow itself as their rendezvous (like torchrun's, with Temporal as the store), restarts the whole group
// from the last checkpoint under a new generation when any replica fails, evaluates, and reports to its sweep.
// A pause stops the group at a step boundary with a checkpoint and ends the workflow `paused`; a later workflow of the
// same trial (input.resume) continues from that checkpoint, in the same MLflow run.
// The phases live beside it: trial-state.ts (what it knows, its reports), trial-handlers.ts (its messages),
// trial-rungs.ts (early stopping), trial-generation.ts (the replica group), trial-lifecycle.ts (open and the ends).
// Their commands, their order and their arguments are what recorded histories replay (test/workflows/replay-compat).
import { CancellationScope, workflowInfo } from '@temporalio/workflow';

import { trainForEarlyStopping } from '../src/sweep/early-stopping.js';
import type { TrialInput, TrialResult, TrialWorkflow } from '../src/contract/index.js';
import { restartGroup, startGeneration, stopGeneration, superviseGeneration } from './trial-generation.js';
import type { GroupResult } from './trial-generation.js';
import { setTrialHandlers } from './trial-handlers.js';
import { completeTrial, failTrial, openTrial, pauseTrial, stopTrial } from './trial-lifecycle.js';
import { trialRungs } from './trial-rungs.js';
import { newTrialRun, startProgressReports, trialActivities } from './trial-state.js';

export async function trialWorkflow(input: TrialInput): Promise<TrialResult> {
  const r = newTrialRun(input, workflowInfo().workflowId);
  const { training, control } = trialActivities(input);
  const rungs = trialRungs(r, control);
  setTrialHandlers(r, rungs);
  const replicaTrain = trainForEarlyStopping(input.train, input.earlyStopping);

  try {
    await openTrial(r, control);
    const reports = startProgressReports(r);

    let final: GroupResult | undefined;
    for (;;) {
      if (r.pauseRequested || r.stopReason !== undefined) break; // asked before this generation started: nothing to stop
      const generation = startGeneration(r, training, replicaTrain, rungs.evaluated);
      try {
        final = await superviseGeneration(r, generation);
        break;
      } catch (err) {
        await stopGeneration(generation);
        if (CancellationScope.current().consideredCancelled) throw err;
        if (r.stopReason !== undefined) break; // early stopping cancelled the group
        await restartGroup(r, err);
      }
    }
    if (final?.checkpoint) r.lastCheckpoint = final.checkpoint;
    r.step = final?.step ?? r.step;
    if (final?.losses) r.losses = final.losses;
    reports.cancel();

    if (r.stopReason !== undefined) return await stopTrial(r, control, r.stopReason);
    // (a PBT member's generation before the last ends paused at its boundary: the PBT workflow continues it)
    if (final === undefined || final.paused || input.pbt?.pauseAtEnd === true) return await pauseTrial(r, control, rungs);
    return await completeTrial(r, control, rungs);
  } catch (err) {
    await failTrial(r, control, rungs, err);
    throw err;
  }
}

// The signature the contract promises to clients that start this workflow by name.
const _conforms: TrialWorkflow = trialWorkflow;
