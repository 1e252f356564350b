// Collapsed trials (no active unit, or final KL below 0.1 nats) are flagged in `dcign sweep results` and the report,
// with the threshold named: issue 33's InfoVAE seed at KL 2e-4 nats, MIG 0, no active unit, was only a wide interval.
import test from 'ava';

import type { SweepProgress, TrialStatus } from '../../src/contract/types.js';
import { COLLAPSE_KL_NATS, collapseReason } from '../../src/sweep/collapse.js';
import { formatTable } from '../../src/sweep/cli.js';
import { resultRows } from '../../src/sweep/control.js';

const trial = (seed: number, kl: number, activeUnits: number, mig: number): TrialStatus => ({
  key: `variant=info-vae,lambda=1000,seed=${seed}`,
  params: { variant: 'info-vae', lambda: 1000 },
  seed,
  state: 'completed',
  step: 3000,
  generation: 0,
  losses: { recon: 50, kl },
  metrics: { mig, active_units: activeUnits },
});

test('the threshold: no active unit, or KL below 0.1 nats; a trained trial is not flagged', (t) => {
  t.is(COLLAPSE_KL_NATS, 0.1);
  t.is(collapseReason({ kl: 2e-4, active_units: 0 }), 'no active unit, KL 0.0002 < 0.1 nats');
  t.is(collapseReason({ kl: 8.4, active_units: 0 }), 'no active unit');
  t.is(collapseReason({ kl: 0.05 }), 'KL 0.05 < 0.1 nats');
  t.is(collapseReason({ kl: 8.4, active_units: 3 }), undefined);
  t.is(collapseReason({}), undefined, 'nothing logged: no claim');
});

test('`dcign sweep results` flags the collapsed seed beside its metrics, and only it', (t) => {
  const p: SweepProgress = { name: 's', state: 'completed', maxConcurrentTrials: 1, trials: [trial(0, 8.4, 4, 0.2), trial(1, 2e-4, 0, 0)], continuedAsNew: 0 };
  const rows = resultRows(p, { metrics: ['mig'] });
  const bySeed = new Map(rows.map((r) => [r.seed, r]));
  t.is(bySeed.get(1)?.collapsed, 'no active unit, KL 0.0002 < 0.1 nats');
  t.is(bySeed.get(0)?.collapsed, undefined);
  t.regex(formatTable(rows), /collapsed/);
});
