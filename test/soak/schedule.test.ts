// The soak's promises that need no stack: the same seed draws the same schedule, another seed another one, a
// 10-minute run injects every kind of fault, Temporal outages fall on either side of the heartbeat timeout, and bad
// flags are refused naming the flag. The soak itself is `npm run soak` (test/soak/runner.ts), not part of the suite.
import test from 'ava';

import { cadenceSteps } from './invariants.js';
import { parseArgs } from './runner.js';
import { FAULT_KINDS, drawSchedule } from './schedule.js';

const base = { minutes: 10, heartbeatSeconds: 40, netns: true };

test('the same seed draws the same schedule; another seed a different one', (t) => {
  t.deepEqual(drawSchedule({ seed: 7, ...base }), drawSchedule({ seed: 7, ...base }));
  t.notDeepEqual(drawSchedule({ seed: 7, ...base }), drawSchedule({ seed: 8, ...base }));
});

test('ten minutes hold every kind of fault, inside the run, with outages on either side of the heartbeat timeout', (t) => {
  for (const seed of [1, 2, 3]) {
    const s = drawSchedule({ seed, ...base });
    t.deepEqual([...new Set(s.map((e) => e.kind))].sort(), [...FAULT_KINDS].sort(), `seed ${seed}`);
    for (const e of s) {
      t.true(e.at >= 45 && e.at <= 10 * 60 - 45, `seed ${seed}: ${JSON.stringify(e)}`);
      if (e.kind === 'temporal-short') t.true(e.seconds < 40, JSON.stringify(e));
      if (e.kind === 'temporal-long') t.true(e.seconds > 40, JSON.stringify(e));
    }
    const at = s.map((e) => e.at);
    t.deepEqual(at, [...at].sort((a, b) => a - b));
  }
});

test('without namespace hosts no link is cut', (t) => {
  t.false(drawSchedule({ seed: 1, ...base, netns: false }).some((e) => e.kind === 'cut-link'));
});

test('log steps at the cadence, the final step included', (t) => {
  t.deepEqual(cadenceSteps(5, 20, 40), [5, 10, 15, 20]);
  t.deepEqual(cadenceSteps(5, 42, 42), [5, 10, 15, 20, 25, 30, 35, 40, 42]);
  t.deepEqual(cadenceSteps(5, 0, 40), []);
});

test('flags: defaults, and a bad value names the flag', (t) => {
  t.like(parseArgs([]), { seed: 1, minutes: 10, workers: 3 });
  t.like(parseArgs(['--seed', '4', '--minutes', '2', '--no-netns']), { seed: 4, minutes: 2, netns: false });
  t.throws(() => parseArgs(['--seed', 'x']), { message: /--seed takes a number; got "x"/ });
  t.throws(() => parseArgs(['--minutes', '0']), { message: /--minutes must be between 1 and 240/ });
  t.throws(() => parseArgs(['--steps', '30']), { message: /--steps must be .* multiple of 20/ });
  t.throws(() => parseArgs(['--speed', '3']), { message: /unknown flag --speed/ });
});
