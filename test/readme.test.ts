// The README's commands must work as written: a section that starts a sweep spec and a worker names the spec's queue.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { projectRoot } from '../src/stack/paths.js';
import { loadSweepSpec } from '../src/sweep/spec.js';

test('every README section that starts a sweep starts its worker on the spec\'s task queue', (t) => {
  const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
  let checked = 0;
  for (const section of readme.split(/\n(?=## )/)) {
    const specs = [...section.matchAll(/sweep start (sweeps\/[\w.-]+\.yaml)/g)].map((m) => m[1] as string);
    const queues = [...section.matchAll(/worker --task-queue ([\w.-]+)/g)].map((m) => m[1] as string);
    if (specs.length === 0 || queues.length === 0) continue;
    for (const spec of specs) {
      const queue = loadSweepSpec(join(projectRoot, spec)).taskQueue;
      t.true(queues.includes(queue), `${section.split('\n')[0]}: ${spec} runs on ${queue}, the worker polls ${queues.join(', ')}`);
      checked += 1;
    }
  }
  t.true(checked >= 2, 'the Sweeps and cluster sections were found');
});
