// How the report ranks trials and picks each configuration's best seed, on hand-built study data.
import test from 'ava';

import { analyse, rankingOf } from '../../src/report/analysis.js';
import type { StudyData, TrialRecord } from '../../src/report/gather.js';

function trial(label: string, seed: number, metrics: Record<string, number>): TrialRecord {
  return {
    runId: `${label}-${seed}`,
    name: `${label} seed=${seed}`,
    status: 'FINISHED',
    seed,
    config: { variant: 'beta-vae', architecture: 'standard', param: 'beta', paramValue: 1, latentSize: 4, label },
    metrics,
  };
}

const base: StudyData = { sweep: 's', experimentId: '1', parentRunId: 'p', trackingUri: 'http://x', dataset: 'npz:faces.npz', specMetrics: [], trials: [] };

test('without factor metrics the study ranks by UDR, and the best seed is the one with the highest UDR', (t) => {
  const data: StudyData = {
    ...base,
    trials: [trial('a', 0, { recon: 10, kl: 3, udr: 0.2 }), trial('a', 1, { recon: 12, kl: 2, udr: 0.6 }), trial('b', 0, { recon: 9, kl: 4, udr: 0.1 })],
  };
  t.like(rankingOf(data), { metric: 'udr', mode: 'max' });
  const a = analyse(data);
  t.is(a.groups.find((g) => g.label === 'a')?.best?.seed, 1);
  t.deepEqual(a.disentanglement, { metric: 'udr', mode: 'max' });
  t.deepEqual(a.metrics, ['recon', 'kl', 'udr']);
});

test("the spec's objective wins; without one, factor metrics outrank UDR (the spec's first metric), else recon", (t) => {
  const trials = [trial('a', 0, { recon: 10, mig: 0.3, udr: 0.9 }), trial('a', 1, { recon: 8, mig: 0.1, udr: 0.1 })];
  t.like(rankingOf({ ...base, trials, objective: { metric: 'recon', mode: 'min' } }), { metric: 'recon', mode: 'min' });
  t.like(rankingOf({ ...base, trials, specMetrics: ['mig'] }), { metric: 'mig', mode: 'max' });
  t.like(rankingOf({ ...base, trials: [trial('a', 0, { recon: 1 })] }), { metric: 'recon', mode: 'min' });
  const a = analyse({ ...base, trials, objective: { metric: 'recon', mode: 'min' }, specMetrics: ['mig'] });
  t.is(a.groups[0]?.best?.seed, 1, 'lowest recon');
  t.deepEqual(a.disentanglement, { metric: 'mig', mode: 'max' }, 'a loss objective plots against the spec metric');
});
