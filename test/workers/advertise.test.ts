// Where replicas bind by default: loopback when the whole cluster is on this machine, so no stranger on the network
// can reach a ring socket; a reachable interface otherwise.
import { networkInterfaces } from 'node:os';

import test from 'ava';

import { defaultAdvertiseHost } from '../../workers/worker.js';

test('a worker whose Temporal is on loopback binds its replicas to loopback', (t) => {
  for (const address of ['127.0.0.1:7233', 'localhost:7233', '[::1]:7233', '127.0.0.2:1']) t.is(defaultAdvertiseHost(address), '127.0.0.1', address);
});

test('a worker of a remote Temporal advertises a non-loopback interface where the machine has one', (t) => {
  const external = Object.values(networkInterfaces())
    .flat()
    .find((a) => a?.family === 'IPv4' && !a.internal)?.address;
  t.is(defaultAdvertiseHost('temporal.internal:7233'), external ?? '127.0.0.1');
});
