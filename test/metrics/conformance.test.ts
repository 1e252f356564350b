// Conformance with google-research/disentanglement_lib: every case in ../shared/conformance/disentanglement/ (format
// and tolerances in its README), every metric it defines, within that metric's tolerance. Sampling metrics are one
// run each, checked against the case's single-run tolerance. Hidden cases use the same format.
import test from 'ava';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  expectedOf,
  readCase,
  scoreCaseMetric,
  toleranceOf,
  type ConformanceCase,
} from '../../src/metrics/case.js';

// Compiled to dist/test/metrics/: the repository root is three levels up; CI clones with shared/ beside the repo.
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..', '..');
const casesDir = path.resolve(repoRoot, '..', 'shared', 'conformance', 'disentanglement');

const caseFiles = readdirSync(casesDir)
  .filter((f) => f.endsWith('.json'))
  .sort();

test('the conformance cases are present', (t) => {
  t.true(caseFiles.length > 0, `no *.json in ${casesDir}`);
});

const cache = new Map<string, Promise<ConformanceCase>>();
function load(file: string): Promise<ConformanceCase> {
  let p = cache.get(file);
  if (!p) cache.set(file, (p = readCase(path.join(casesDir, file))));
  return p;
}

for (const file of caseFiles) {
  test(`${file}: every metric within tolerance`, async (t) => {
    const c = await load(file);
    const failures: string[] = [];
    for (const [name, metric] of Object.entries(c.metrics)) {
      const actual = await scoreCaseMetric(c, name, 0);
      for (const output of Object.keys(metric.expected)) {
        const value = actual[output];
        const expected = expectedOf(metric, output);
        const tol = toleranceOf(metric, output);
        const ok = typeof value === 'number' && Math.abs(value - expected) <= tol;
        t.log(`${name}.${output}: ${value} (expected ${expected}, |diff| ${Math.abs((value ?? NaN) - expected)}, tol ${tol})`);
        if (!ok) failures.push(`${name}.${output}: got ${value}, expected ${expected} +- ${tol}`);
      }
    }
    t.deepEqual(failures, []);
  });
}
