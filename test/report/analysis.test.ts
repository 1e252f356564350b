// How the report ranks trials and picks each configuration's best seed, on hand-built study data.
import test from 'ava';

import { analyse, rankingOf } from '../../src/report/analysis.js';
import { findings } from '../../src/report/findings.js';
import { differenceInterval } from '../../src/report/stats.js';
import { configurationOf, type StudyData, type TrialRecord } from '../../src/report/gather.js';

function trial(label: string, seed: number, metrics: Record<string, number>): TrialRecord {
  return {
    runId: `${label}-${seed}`,
    name: `${label} seed=${seed}`,
    status: 'FINISHED',
    seed,
    config: { variant: 'beta-vae', architecture: 'standard', param: 'beta', paramValue: 1, latentSize: 4, swept: {}, label },
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

test('every swept key distinguishes configurations: a clamp grid is two configurations, not one pooled over both', (t) => {
  const params = { 'model.variant': 'dcign', 'model.architecture': 'standard', 'model.beta': '1', 'model.latentSize': '32' };
  const keyed = (clamp: string, seed: number): TrialRecord => {
    const config = configurationOf(params, { 'dcign.trial': `model.dcign.clamp=${clamp},lr=0.0002,seed=${seed}` });
    return { runId: `${clamp}-${seed}`, name: `${clamp} ${seed}`, status: 'FINISHED', seed, config, metrics: { recon: clamp === 'mean' ? 10 + seed : 30 + seed } };
  };
  const c = configurationOf(params, { 'dcign.trial': 'model.dcign.clamp=first-sample,lr=0.0002,seed=3' });
  t.is(c.label, 'dcign standard beta=1 z=32 clamp=first-sample lr=0.0002');
  t.deepEqual(c.swept, { clamp: 'first-sample', lr: '0.0002' });
  // the variant's own parameter, architecture and latent size are in the label already, and the seed is no configuration
  const plain = configurationOf({ ...params, 'model.variant': 'beta-vae', 'model.beta': '4' }, { 'dcign.trial': 'variant=beta-vae,beta=4,arch=standard,latent=32,seed=0' });
  t.is(plain.label, 'beta-vae standard beta=4 z=32');
  const a = analyse({ ...base, trials: [keyed('mean', 2), keyed('mean', 3), keyed('first-sample', 2), keyed('first-sample', 3)] });
  t.is(a.groups.length, 2);
  t.deepEqual(a.table.get('dcign standard beta=1 z=32 clamp=mean lr=0.0002')?.get('recon')?.mean, 12.5);
  t.deepEqual(a.table.get('dcign standard beta=1 z=32 clamp=first-sample lr=0.0002')?.get('recon')?.mean, 32.5);
});

test('Findings: residual vs standard and each model vs the plain VAE, with a 95% Welch interval over seeds and a verdict', (t) => {
  const cfg = (variant: string, architecture: string, beta: number): TrialRecord['config'] => ({
    variant, architecture, param: 'beta', paramValue: beta, latentSize: 4, swept: {}, label: `${variant} ${architecture} beta=${beta} z=4`,
  });
  const tr = (c: TrialRecord['config'], seed: number, recon: number, mig: number): TrialRecord => ({ runId: `${c.label}${seed}`, name: `${c.label} ${seed}`, status: 'FINISHED', seed, config: c, metrics: { recon, mig } });
  const std = cfg('beta-vae', 'standard', 1);
  const res = cfg('beta-vae', 'residual', 1);
  const b4 = cfg('beta-vae', 'standard', 4);
  const trials = [0, 1, 2].flatMap((s) => [tr(std, s, 50 + s * 0.1, 0.1 + 0.05 * s), tr(res, s, 40 + s * 0.1, 0.12 + 0.05 * s), tr(b4, s, 70 + s, 0.3 - 0.1 * s)]);
  const f = findings(analyse({ ...base, trials, specMetrics: ['mig'] }));
  const arch = f.find((x) => x.question === 'does residual change recon?');
  t.is(arch?.d.verdict, 'settled', 'recon 10 lower with a spread of 0.1');
  t.true(Math.abs((arch?.d.diff ?? NaN) + 10) < 1e-9);
  t.is(f.find((x) => x.question === 'does residual change mig?')?.d.verdict, 'inside the seed noise');
  const cost = f.find((x) => x.question === 'beta-vae against the plain VAE: recon' && x.a === b4.label);
  t.is(cost?.d.verdict, 'settled');
  t.deepEqual([cost?.d.na, cost?.d.nb], [3, 3]);
  t.is(differenceInterval([1], [2, 3]).verdict, 'too few seeds');
});
