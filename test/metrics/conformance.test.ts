// Conformance with google-research/disentanglement_lib: every case in test/fixtures/conformance/ (provenance and
// tolerances in its README), every metric it defines, within that metric's tolerance. Sampling metrics are one
// run each, checked against the case's single-run tolerance. DCIGN_CONFORMANCE_CASES names another folder of cases
// in the same format (a held-out set) to run instead.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  expectedOf,
  readCase,
  scoreCaseMetric,
  toleranceOf,
  type ConformanceCase,
} from '../../src/metrics/case.js';

// Compiled to dist/test/metrics/: the repository root is three levels up. tsc does not copy JSON, so the fixtures
// are read from the source tree.
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..', '..');
const casesDir = path.resolve(process.env.DCIGN_CONFORMANCE_CASES ?? path.join(repoRoot, 'test', 'fixtures', 'conformance'));

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

// One serial test per (case, metric), so progress is visible and no single test runs for minutes on a busy machine.
for (const file of caseFiles) {
  const metricNames = Object.keys((JSON.parse(readFileSync(path.join(casesDir, file), 'utf8')) as ConformanceCase).metrics);
  for (const name of metricNames) {
    test.serial(`${file}: ${name} within tolerance`, async (t) => {
      const c = await load(file);
      const metric = c.metrics[name] as ConformanceCase['metrics'][string];
      const actual = await scoreCaseMetric(c, name, 0);
      for (const output of Object.keys(metric.expected)) {
        const value = actual[output];
        const expected = expectedOf(metric, output);
        const tol = toleranceOf(metric, output);
        t.log(`${name}.${output}: ${value} (expected ${expected}, |diff| ${Math.abs((value ?? NaN) - expected)}, tol ${tol})`);
        t.true(
          typeof value === 'number' && Math.abs(value - expected) <= tol,
          `${name}.${output}: got ${value}, expected ${expected} +- ${tol}`,
        );
      }
    });
  }
}
