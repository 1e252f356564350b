// What `dcign dev up --host` makes each server bind, and which addresses it tells workers to use (pure; the servers
// themselves are exercised across network namespaces in test/cluster/cluster.test.ts).
import test from 'ava';

import { bindings, serviceSpecs } from '../../src/stack/services.js';

const base = { temporalPort: 7233, temporalUiPort: 8233, mlflowPort: 5000, stateDir: '/tmp/x' };

test('loopback: both servers on loopback, nothing to tell workers elsewhere', (t) => {
  const b = bindings({ ...base, host: '127.0.0.1' });
  t.is(b.temporalIp, '127.0.0.1');
  t.is(b.mlflowHost, '127.0.0.1');
  t.deepEqual(b.workerAddresses, []);
});

test('one address: Temporal on 0.0.0.0 (its dev server fails workflow starts on one address), MLflow on it and allowing it', (t) => {
  const o = { ...base, host: '198.18.0.2', allowedHosts: ['head.cluster'] };
  const b = bindings(o);
  t.is(b.temporalIp, '0.0.0.0');
  t.is(b.mlflowHost, '198.18.0.2');
  t.deepEqual(b.workerAddresses, ['198.18.0.2']);
  t.true(b.allowedHosts.includes('198.18.0.2:5000') && b.allowedHosts.includes('head.cluster:5000'));
  const [temporal, mlflow] = serviceSpecs(o);
  const after = (args: readonly string[] | undefined, flag: string): string | undefined => args?.[args.indexOf(flag) + 1];
  t.is(after(temporal?.args, '--ip'), '0.0.0.0');
  t.is(after(mlflow?.args, '--host'), '198.18.0.2');
  t.regex(after(mlflow?.args, '--allowed-hosts') ?? '', /(^|,)198\.18\.0\.2:5000(,|$)/);
  t.regex(after(mlflow?.args, '--cors-allowed-origins') ?? '', /http:\/\/198\.18\.0\.2:5000/);
});

test('0.0.0.0: every external address of this machine is offered to workers and allowed by MLflow', (t) => {
  const b = bindings({ ...base, host: '0.0.0.0' });
  t.is(b.temporalIp, '0.0.0.0');
  for (const a of b.workerAddresses) t.true(b.allowedHosts.includes(`${a}:5000`), a);
});
