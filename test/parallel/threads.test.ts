import test from 'ava';

import { threadShareEnv } from '../../src/parallel/threads.js';

test('replicas sharing a machine split its cores, at least one thread each', (t) => {
  t.deepEqual(threadShareEnv(1, {}, 8), { TF_NUM_INTRAOP_THREADS: '8', TF_NUM_INTEROP_THREADS: '1' });
  t.deepEqual(threadShareEnv(3, {}, 8), { TF_NUM_INTRAOP_THREADS: '2', TF_NUM_INTEROP_THREADS: '1' });
  t.deepEqual(threadShareEnv(4, {}, 2), { TF_NUM_INTRAOP_THREADS: '1', TF_NUM_INTEROP_THREADS: '1' });
});

test("the caller's own thread settings win", (t) => {
  t.deepEqual(threadShareEnv(2, { TF_NUM_INTRAOP_THREADS: '6' }, 8), { TF_NUM_INTEROP_THREADS: '1' });
  t.deepEqual(threadShareEnv(2, { TF_NUM_INTRAOP_THREADS: '6', TF_NUM_INTEROP_THREADS: '2' }, 8), {});
});

test('a replica count that is not a positive integer is refused', (t) => {
  t.throws(() => threadShareEnv(0, {}, 8), { message: /integer >= 1, got 0/ });
});
