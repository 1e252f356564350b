// DCIGN's per-trial claim in the report: each assigned latent carries its own factor more than any other, read from
// the evaluation's normalised mutual information and the assignment in the run params.
import test from 'ava';

import { assignedLatents } from '../../src/report/dcign-latents.js';
import { assignmentOf, configurationOf, type TrialRecord } from '../../src/report/gather.js';

const params = {
  'model.variant': 'dcign',
  'model.latentSize': '4',
  'model.dcign.assignment.azimuth': '[0]',
  'model.dcign.assignment.light': '[1]',
  'model.dcign.assignment.identity': '[2,3]',
  'model.dcign.clamp': 'mean',
};

const trial = (normalised: number[][]): TrialRecord => ({
  runId: 'r',
  name: 'dcign seed=0',
  status: 'FINISHED',
  seed: 0,
  config: configurationOf(params, { 'dcign.variant': 'dcign' }),
  metrics: {},
  assignment: assignmentOf(params) as Record<string, number[]>,
  mutualInfo: { factorNames: ['identity', 'azimuth', 'light'], normalised },
});

test('the assignment is read from the run params, factor by factor', (t) => {
  t.deepEqual(assignmentOf(params), { azimuth: [0], light: [1], identity: [2, 3] });
  t.is(assignmentOf({ 'model.beta': '1' }), undefined);
});

test('a latent that shares more with another factor than its own does not carry it; the rival is named', (t) => {
  // [factor][latent]: light is in z1 alone; azimuth's z0 follows identity more than azimuth; identity in z3.
  const got = assignedLatents(trial([[0.4, 0.1, 0.05, 0.6], [0.07, 0.02, 0.01, 0.03], [0.05, 0.8, 0.02, 0.1]])) ?? [];
  const by = Object.fromEntries(got.map((a) => [a.factor, a]));
  t.like(by.light, { own: 0.8, carries: true, rival: { factor: 'identity', value: 0.1 } });
  t.like(by.azimuth, { own: 0.07, carries: false, rival: { factor: 'identity', value: 0.4 } });
  t.like(by.identity, { own: 0.6, carries: true, latents: [2, 3] });
});

test('no table without an assignment or without mutual information', (t) => {
  const noMi: TrialRecord = { ...trial([[0]]), mutualInfo: undefined } as unknown as TrialRecord;
  t.is(assignedLatents(noMi), undefined);
  const { assignment: _a, ...noAssignment } = trial([[0]]);
  t.is(assignedLatents(noAssignment as TrialRecord), undefined);
});
