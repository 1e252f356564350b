import test from 'ava';
import { LruCache } from '../../src/data/lru.js';

test('LRU cache keeps at most its capacity and evicts the least recently used', (t) => {
  const c = new LruCache<number, string>(2);
  c.set(1, 'a');
  c.set(2, 'b');
  t.is(c.get(1), 'a'); // 1 is now the most recent
  c.set(3, 'c'); // evicts 2
  t.is(c.size, 2);
  t.is(c.get(2), undefined);
  t.is(c.get(1), 'a');
  t.is(c.get(3), 'c');
  const none = new LruCache<number, string>(0);
  none.set(1, 'a');
  t.is(none.size, 0);
  t.throws(() => new LruCache(-1), { message: /non-negative integer/ });
});
