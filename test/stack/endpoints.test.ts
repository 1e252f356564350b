// Addresses and links come from the ports in use: flag, then environment, then the stack `dev up` recorded, then
// the defaults.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DEFAULT_ENDPOINTS, exportsFor, resolveEndpoints } from '../../src/stack/endpoints.js';
import { writeStackState } from '../../src/stack/state.js';
import { temporalUiLink } from '../../src/sweep/control.js';

const recorded = (t: { teardown(fn: () => void): void }) => {
  const dir = mkdtempSync(join(tmpdir(), 'dcign-endpoints-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const options = { host: '127.0.0.1', temporalPort: 27233, temporalUiPort: 28233, mlflowPort: 25000, stateDir: dir };
  const record = { pid: 1, binary: 'x', startedAt: '', url: '', logFile: '' };
  writeStackState(dir, { options, services: { temporal: record, mlflow: record } });
  return dir;
};

test('with a stack recorded on other ports, addresses and links use its ports', (t) => {
  const stateDir = recorded(t);
  const ep = resolveEndpoints({}, { env: {}, stateDir });
  t.deepEqual(ep, { temporalAddress: '127.0.0.1:27233', temporalUi: 'http://localhost:28233', mlflowUri: 'http://127.0.0.1:25000' });
  t.is(temporalUiLink('sweep/s', ep.temporalUi), 'http://localhost:28233/namespaces/default/workflows/sweep%2Fs');
});

test('the environment wins over the recorded stack, and a flag over both, value by value', (t) => {
  const stateDir = recorded(t);
  const env = { TEMPORAL_UI: 'https://ui.example/', MLFLOW_TRACKING_URI: 'https://mlflow.example' };
  t.deepEqual(resolveEndpoints({}, { env, stateDir }), {
    temporalAddress: '127.0.0.1:27233',
    temporalUi: 'https://ui.example',
    mlflowUri: 'https://mlflow.example',
  });
  t.is(resolveEndpoints({ temporalUi: 'http://flag:1' }, { env, stateDir }).temporalUi, 'http://flag:1');
});

test('nothing recorded and nothing set: the defaults', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dcign-endpoints-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.deepEqual(resolveEndpoints({}, { env: {}, stateDir: dir }), DEFAULT_ENDPOINTS);
});

test('dev up prints exports for the ports that differ from the defaults only', (t) => {
  t.deepEqual(exportsFor({ host: '127.0.0.1', temporalPort: 7233, temporalUiPort: 8233, mlflowPort: 5000 }), []);
  t.deepEqual(exportsFor({ host: '0.0.0.0', temporalPort: 27233, temporalUiPort: 28233, mlflowPort: 5000 }), [
    'export TEMPORAL_ADDRESS=127.0.0.1:27233',
    'export TEMPORAL_UI=http://localhost:28233',
  ]);
});
