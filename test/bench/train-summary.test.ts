// The last line of `npm run bench:train` holds no null ratio: a missing twin figure is named and the run has no line.
import test from 'ava';

import { leftOut, missingMessage, requiredConfigs, summarise } from '../../bench/train-summary.js';

const all = {
  ours: 400,
  torch: 300,
  keras: 420,
  'ours:dcign/standard': 380,
  'torch:dcign/standard': 250,
  'keras:dcign/standard': 400,
  'ours-eager:dcign/standard': 190,
};

test('every pair measured: the ratios are those of the pairs, and none is null', (t) => {
  const s = summarise({ medians: all, family: ['dcign/standard'], reference: true, stepOf: new Map([['ours:dcign/standard', 'graph']]) });
  if (!s.ok) return t.fail(`missing ${s.missing.join(', ')}`);
  t.is(s.ratio, 1.333);
  t.is(s.ratio_vs_keras, 0.952);
  t.deepEqual(s.family['dcign/standard'], { ours: 380, step: 'graph', torch: 250, keras: 400, ratio: 1.52, ratio_vs_keras: 0.95, eager: 190, ratio_vs_eager: 2 });
  t.false(JSON.stringify(s).includes('null'));
});

test('a twin that failed in every round is named, and there is no line to print', (t) => {
  const { 'keras:dcign/standard': _k, ...noKeras } = all;
  const s = summarise({ medians: { ...noKeras, torch: undefined }, family: ['dcign/standard'], reference: true });
  t.false(s.ok);
  if (s.ok) return;
  t.deepEqual(s.missing, ['torch', 'keras:dcign/standard']);
  t.regex(missingMessage(s.missing), /no figure for torch, keras:dcign\/standard .*setup-bench-twins\.sh/);
});

test('ours failing is missing too, with or without the twins', (t) => {
  const s = summarise({ medians: { ...all, 'ours:dcign/standard': undefined }, family: ['dcign/standard'], reference: false });
  t.deepEqual(s.ok ? [] : s.missing, ['ours:dcign/standard']);
});

test('an eager row left out is left out of the line, not null', (t) => {
  const { 'ours-eager:dcign/standard': _e, ...noEager } = all;
  const s = summarise({ medians: noEager, family: ['dcign/standard'], reference: true });
  if (!s.ok) return t.fail();
  t.false('eager' in (s.family['dcign/standard'] ?? {}));
  t.false('ratio_vs_eager' in (s.family['dcign/standard'] ?? {}));
});

test('--no-reference: ours alone and no ratio key at all', (t) => {
  const s = summarise({ medians: { ours: 400, 'ours:dcign/standard': 380 }, family: ['dcign/standard'], reference: false });
  if (!s.ok) return t.fail();
  t.false('ratio' in s);
  t.false('ratio' in (s.family['dcign/standard'] ?? {}));
  t.is(s.ours, 400);
});

test('--only leaving out a twin of a row it runs is caught before anything runs', (t) => {
  const required = requiredConfigs(['info-vae/standard'], true);
  t.deepEqual(required, ['ours', 'torch', 'keras', 'ours:info-vae/standard', 'torch:info-vae/standard', 'keras:info-vae/standard']);
  t.deepEqual(leftOut(required, ['ours', 'torch', 'keras', 'ours:info-vae/standard', 'keras:info-vae/standard']), ['torch:info-vae/standard']);
  t.deepEqual(leftOut(requiredConfigs(['info-vae/standard'], false), ['ours', 'ours:info-vae/standard']), []);
});
