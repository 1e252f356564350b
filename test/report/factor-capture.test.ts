// Which factors each configuration disentangles: MIG's per-factor term from each trial's normalised MI, its interval
// over seeds, the latent that carries it, and the verdict against the plain VAE of the same architecture.
import test from 'ava';

import { analyse } from '../../src/report/analysis.js';
import { factorCapture, factorScores } from '../../src/report/factor-capture.js';
import { factorSection } from '../../src/report/factor-section.js';
import { migFromCodes } from '../../src/metrics/mig.js';
import type { StudyData, TrialRecord } from '../../src/report/gather.js';

const FACTORS = ['azimuth', 'light'];

function trial(variant: string, paramValue: number, architecture: string, seed: number, normalised: number[][]): TrialRecord {
  const label = `${variant} ${architecture} beta=${paramValue} z=3`;
  return {
    runId: `${label}-${seed}`,
    name: `${label} seed=${seed}`,
    status: 'FINISHED',
    seed,
    config: { variant, architecture, param: 'beta', paramValue, latentSize: 3, swept: {}, label },
    metrics: { recon: 1, mig: normalised.reduce((m, row) => Math.max(m, ...row), 0) },
    mutualInfo: { factorNames: FACTORS, normalised },
  };
}

const base: StudyData = { sweep: 's', experimentId: '1', parentRunId: 'p', trackingUri: 'http://x', dataset: 'faces', specMetrics: ['mig'], trials: [] };
const jitter = (seed: number): number => 0.01 * (seed - 1);

test("a trial's per-factor score is the best latent's normalised MI minus the runner-up's, and their mean is MIG", (t) => {
  const normalised = [
    [0.1, 0.7, 0.2],
    [0.5, 0.45, 0.05],
  ];
  const s = factorScores(trial('beta-vae', 1, 'standard', 0, normalised));
  t.like(s?.get('azimuth'), { latent: 1, best: 0.7 });
  t.true(Math.abs((s?.get('azimuth')?.gap ?? NaN) - 0.5) < 1e-12);
  t.true(Math.abs((s?.get('light')?.gap ?? NaN) - 0.05) < 1e-12);
  // Against the MIG implementation itself: codes where z0 follows factor 0, z1 half follows factor 1, z2 is noise.
  const codes: number[][] = [];
  const factors: number[][] = [];
  for (let i = 0; i < 400; i++) {
    const f0 = i % 4;
    const f1 = Math.floor(i / 4) % 5;
    factors.push([f0, f1]);
    codes.push([f0 + 0.1 * ((i * 7) % 3), i % 2 === 0 ? f1 : (i * 13) % 5, (i * 31) % 17]);
  }
  const m = migFromCodes(codes, factors);
  const fromMig = m.factorEntropy.map((h, k) => m.mutualInfo.map((row) => (row[k] as number) / h));
  const own = factorScores(trial('beta-vae', 1, 'standard', 0, fromMig));
  const gaps = [...(own?.values() ?? [])].map((x) => x.gap);
  t.is(gaps.length, 2);
  t.true(Math.abs((gaps[0]! + gaps[1]!) / 2 - m.discrete_mig) < 1e-12, `mean of the per-factor terms ${(gaps[0]! + gaps[1]!) / 2} vs MIG ${m.discrete_mig}`);
});

test('a model that puts azimuth in one latent is settled above the plain VAE on azimuth and inside the noise on light', (t) => {
  const trials: TrialRecord[] = [];
  for (const seed of [0, 1, 2]) {
    const j = jitter(seed);
    // Plain VAE: azimuth split over z0 and z1 (captured, not disentangled); light in z2.
    trials.push(trial('beta-vae', 1, 'standard', seed, [[0.4 + j, 0.38, 0.02], [0.05, 0.05, 0.8 - j]]));
    // beta 4: azimuth in z1 alone; light as the VAE.
    trials.push(trial('beta-vae', 4, 'standard', seed, [[0.05, 0.7 - j, 0.02], [0.05, 0.05, 0.8 + j]]));
  }
  const a = analyse({ ...base, trials });
  const fc = factorCapture(a);
  t.deepEqual(fc?.factors, FACTORS);
  const b4 = fc?.cells.get('beta-vae standard beta=4 z=3');
  t.like(b4?.get('azimuth')?.latent, { index: 1, seeds: 3 });
  t.is(b4?.get('azimuth')?.vsVae?.verdict, 'settled');
  t.true((b4?.get('azimuth')?.vsVae?.diff ?? 0) > 0.6);
  t.is(b4?.get('light')?.vsVae?.verdict, 'inside the seed noise');
  t.is(fc?.baseline.get('beta-vae standard beta=4 z=3'), 'beta-vae standard beta=1 z=3');
  t.is(fc?.cells.get('beta-vae standard beta=1 z=3')?.get('azimuth')?.vsVae, undefined, 'the plain VAE is not compared with itself');
  const html = factorSection(a);
  t.regex(html, /id="factors"/);
  t.regex(html, /▲ 0\.6\d*<\/b> <span class="ci">\[[^\]]+\] settled/);
});

test('another architecture is compared with the plain VAE of its own architecture, and no MI means no section', (t) => {
  const trials: TrialRecord[] = [];
  for (const seed of [0, 1, 2]) {
    trials.push(trial('beta-vae', 1, 'standard', seed, [[0.9, 0.0, 0.0], [0.0, 0.9, 0.0]]));
    trials.push(trial('beta-vae', 1, 'attention', seed, [[0.2 + jitter(seed), 0.2, 0.0], [0.0, 0.9, 0.0]]));
    trials.push(trial('beta-vae', 4, 'attention', seed, [[0.2 - jitter(seed), 0.2, 0.0], [0.0, 0.9, 0.0]]));
  }
  const fc = factorCapture(analyse({ ...base, trials }));
  // Against attention's own VAE (gap ~0 on azimuth), not the standard one (gap 0.9).
  t.is(fc?.baseline.get('beta-vae attention beta=4 z=3'), 'beta-vae attention beta=1 z=3');
  t.is(fc?.cells.get('beta-vae attention beta=4 z=3')?.get('azimuth')?.vsVae?.verdict, 'inside the seed noise');
  const bare = trials.map((x) => ({ ...x, mutualInfo: undefined }));
  t.is(factorCapture(analyse({ ...base, trials: bare })), undefined);
  t.is(factorSection(analyse({ ...base, trials: bare })), '');
});
