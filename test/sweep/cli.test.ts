import test from 'ava';

import { formatTable, toCsv } from '../../src/sweep/cli.js';
import { resultRows, temporalUiLink } from '../../src/sweep/control.js';
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

test('results sort best first by the first metric (or --sort), failed trials last', (t) => {
  t.deepEqual(resultRows(progress).map((r) => r.trial), ['beta=4,seed=0', 'beta=1,seed=0', 'beta=8,seed=0']);
  t.deepEqual(resultRows(progress, 'loss').map((r) => r.trial), ['beta=4,seed=0', 'beta=1,seed=0', 'beta=8,seed=0']);
  t.like(resultRows(progress)[0], { trial: 'beta=4,seed=0', beta: 4, seed: 0, state: 'completed', step: 10, loss: 5, mig: 0.3 });
});

test('tables align columns; CSV quotes what needs quoting', (t) => {
  const rows = resultRows(progress);
  const table = formatTable(rows).split('\n');
  t.regex(table[0] ?? '', /^trial\s+beta\s+seed\s+state\s+step\s+loss\s+mig\s+error$/);
  t.is(table.length, 5);
  const csv = toCsv(rows).split('\n');
  t.is(csv[0], 'trial,beta,seed,state,step,loss,mig,error');
  t.is(csv[3], '"beta=8,seed=0",8,0,failed,4,,,"boom, ""x"""');
});

test('the Temporal UI link names the sweep workflow', (t) => {
  t.is(temporalUiLink('sweep/smoke', 'http://localhost:8233'), 'http://localhost:8233/namespaces/default/workflows/sweep%2Fsmoke');
});
