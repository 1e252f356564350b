// The research plan's two per-trial checks, as the report shows them: the logged loss is the variant's equation of
// its logged terms (src/sweep/loss-identity.ts), and the held-out reconstruction error stays near the training one
// (x_hat = f_dec(f_enc(x)) on images the trial did not train on). Pure.
import { heldOutGap, lossIdentity, type LossIdentity } from '../sweep/loss-identity.js';
import type { TrialRecord } from './gather.js';

export interface PlanCheck {
  readonly trial: TrialRecord;
  readonly loss: LossIdentity;
  readonly heldOut: { readonly ratio: number; readonly ok: boolean } | undefined;
  /** Why the trial is flagged; empty when it passes both (or neither applies). */
  readonly flags: readonly string[];
}

export function planCheck(t: TrialRecord): PlanCheck {
  const loss: LossIdentity = t.weights ? lossIdentity(t.weights, { ...t.metrics, ...t.lossTerms }) : { applies: false, why: 'no configuration in the run params' };
  const heldOut = heldOutGap(t.metrics);
  const flags: string[] = [];
  if (loss.applies && !loss.ok) flags.push(`loss ${fmt(loss.logged)} is not ${loss.equation} = ${fmt(loss.expected)}`);
  if (heldOut && !heldOut.ok) flags.push(`held-out recon ${fmt(t.metrics.heldout_recon)} is ${heldOut.ratio.toFixed(2)}x the training recon`);
  return { trial: t, loss, heldOut, flags };
}

function fmt(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '–' : String(Number(v.toPrecision(6)));
}
