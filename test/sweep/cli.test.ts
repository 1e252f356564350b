import test from 'ava';

import { formatTable, toCsv } from '../../src/sweep/cli.js';
import { resultRows, temporalUiLink } from '../../src/sweep/control.js';
import { mlflowExperimentLink } from '../../src/tracking/ui-links.js';
import type { SweepProgress } from '../../src/contract/types.js';

const progress: SweepProgress = {
  name: 's',
  state: 'completed',
  maxConcurrentTrials: 2,
  continuedAsNew: 0,
  trials: [
    { key: 'beta=1,seed=0', params: { beta: 1 }, seed: 0, state: 'completed', step: 10, generation: 0, losses: { loss: 3 }, metrics: { mig: 0.1 } },
    { key: 'beta=4,seed=0', params: { beta: 4 }, seed: 0, state: 'completed', step: 10, generation: 1, losses: { loss: 5 }, metrics: { mig: 0.3 } },
    { key: 'beta=8,seed=0', params: { beta: 8 }, seed: 0, state: 'failed', step: 4, generation: 2, losses: {}, metrics: {}, error: 'boom, "x"' },
  ],
};

test('--all: every column, sorted best first by the first metric, failed trials last', (t) => {
  t.deepEqual(resultRows(progress, { all: true }).map((r) => r.trial), ['beta=4,seed=0', 'beta=1,seed=0', 'beta=8,seed=0']);
  t.like(resultRows(progress, { all: true })[0], { trial: 'beta=4,seed=0', beta: 4, seed: 0, state: 'completed', step: 10, loss: 5, mig: 0.3 });
});

test('--sort on a loss sorts ascending; the objective sorts in its own mode', (t) => {
  t.deepEqual(resultRows(progress, { all: true, sort: 'loss' }).map((r) => r.trial), ['beta=1,seed=0', 'beta=4,seed=0', 'beta=8,seed=0']);
  const byMinMig = resultRows(progress, { objective: { metric: 'mig', mode: 'min' } });
  t.deepEqual(byMinMig.map((r) => r.configuration), ['beta=1', 'beta=4', 'beta=8']);
});

test('the compact table: configuration, seed, state, recon, KL, objective, the spec metrics (headline keys), udr when present', (t) => {
  const p: SweepProgress = {
    ...progress,
    trials: progress.trials.map((tr, i) => ({ ...tr, losses: { ...tr.losses, recon: 10 + i, kl: 3 - i }, metrics: { ...tr.metrics, dci_disentanglement: i / 10, irs: 0.5, udr: 0.2 * i } })),
  };
  const rows = resultRows(p, { objective: { metric: 'recon', mode: 'min' }, metrics: ['mig', 'dci'] });
  t.deepEqual(Object.keys(rows[0] ?? {}), ['configuration', 'seed', 'state', 'recon', 'kl', 'mig', 'dci_disentanglement', 'udr']);
  t.deepEqual(rows.map((r) => r.recon), [10, 11, 12]);
  t.is(formatTable(rows).split('\n')[0]?.includes('irs'), false);
});

test('tables align columns; CSV quotes what needs quoting', (t) => {
  const rows = resultRows(progress, { all: true });
  const table = formatTable(rows).split('\n');
  t.regex(table[0] ?? '', /^trial\s+beta\s+seed\s+state\s+step\s+loss\s+mig\s+error$/);
  t.is(table.length, 5);
  const csv = toCsv(rows).split('\n');
  t.is(csv[0], 'trial,beta,seed,state,step,loss,mig,error');
  t.is(csv[3], '"beta=8,seed=0",8,0,failed,4,,,"boom, ""x"""');
});

test('the MLflow link opens the experiment runs table', (t) => {
  t.is(mlflowExperimentLink('http://127.0.0.1:5000/', '7'), 'http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning');
});

test('the Temporal UI link names the sweep workflow', (t) => {
  t.is(temporalUiLink('sweep/smoke', 'http://localhost:8233'), 'http://localhost:8233/namespaces/default/workflows/sweep%2Fsmoke');
});
