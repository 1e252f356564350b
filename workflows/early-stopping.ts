// The sweep's side of early stopping (ASHA, src/sweep/asha.ts): trials report their objective at each rung; the sweep
// records it in the trial's status (so the records survive a continue-as-new with the rest of the progress) and
// stops the trial when it is not in the top 1/eta of the values recorded at that rung so far. The stopped trial
// cancels its replicas and reports `stopped`, which frees its slot for a waiting trial. Every other report is answered
// with rungPromoted, so a trial that trained to its end knows when no stop is coming. Workflow code: deterministic.
import { getExternalWorkflowHandle, patched, setHandler } from '@temporalio/workflow';

import { ashaDecide } from '../src/sweep/asha.js';
import { rungPromotedSignal, rungReachedSignal, stopTrialSignal, trialWorkflowId } from '../src/contract/index.js';
import type { SweepSpec, TrialStatus } from '../src/contract/types.js';

const ENDED = new Set(['completed', 'stopped', 'failed', 'cancelled']);

/** Temporal patch: sweeps started on older code never answered a promotion (their histories replay without it). */
export const PATCH_RUNG_ANSWERS = 'rung-answers';

export function handleRungReports(spec: SweepSpec, trials: () => readonly TrialStatus[]): void {
  const rule = spec.earlyStopping?.asha;
  const objective = spec.objective;
  setHandler(rungReachedSignal, (r) => {
    if (rule === undefined || objective === undefined) return;
    const t = trials().find((x) => x.key === r.key);
    if (t === undefined || ENDED.has(t.state) || t.stopped !== undefined) return; // judged once: stopped at its first losing rung
    const promoted = (): void => {
      if (!patched(PATCH_RUNG_ANSWERS)) return;
      void getExternalWorkflowHandle(trialWorkflowId(spec.name, t.key))
        .signal(rungPromotedSignal, r.rung)
        .catch(() => undefined); // the trial has ended meanwhile
    };
    const rung = String(r.rung);
    if (t.rungs?.[rung] !== undefined) return promoted(); // a restarted group reaching the rung again is judged once
    const others = trials().flatMap((x) => (x.key !== t.key && x.rungs?.[rung] !== undefined ? [x.rungs[rung] as number] : []));
    t.rungs = { ...t.rungs, [rung]: r.value };
    const d = ashaDecide(r.value, others, objective.mode, rule.eta);
    if (d.promote) return promoted();
    const reason =
      `ASHA rung ${r.rung} (step ${r.step}): ${objective.metric} ${fmt(r.value)} is outside the top ${d.kept} of ${d.recorded} ` +
      `recorded there (cutoff ${fmt(d.cutoff)}, ${objective.mode === 'min' ? 'lower' : 'higher'} is better, eta ${rule.eta})`;
    t.stopped = reason;
    void getExternalWorkflowHandle(trialWorkflowId(spec.name, t.key))
      .signal(stopTrialSignal, reason)
      .catch(() => undefined); // the trial has ended meanwhile
  });
}

function fmt(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(4))) : String(v);
}
