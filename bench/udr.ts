// Time to compute UDR on one conformance case (test/fixtures/udr/), ours next to disentanglement_lib's own udr.py run
// unchanged (bench/udr_reference.py) in the venv of scripts/setup-dlib-bench.sh, same inputs, one run each. The
// headline figure is CPU seconds over the case's runs (lasso and spearman, filtered and not); the largest difference
// in model scores is printed alongside.
// Last line: {"bench":"udr","ours":S,"reference":S,"unit":"cpu_s","ratio":reference/ours} -- higher is better.
//
// Usage: node dist/bench/udr.js [case.json]   with DCIGN_DLIB_UDR_PY=path/to/disentanglement_lib/evaluation/udr/
// metrics/udr.py (the PyPI release lacks the udr package; test/fixtures/udr/README.md names the commit).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { udrFromRepresentations, type UdrCorrelation } from '../src/metrics/udr.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const casePath = process.argv[2] ?? path.join(repoRoot, 'test', 'fixtures', 'udr', 'U1_four_models.json');
const venv = process.env.DCIGN_DLIB_VENV ?? path.join(os.homedir(), '.cache', 'dcign', 'dlib-venv');
const udrPy = process.env.DCIGN_DLIB_UDR_PY;

interface Case {
  models: { codes: number[][]; kl: number[] }[];
  runs: { name: string; params: { correlation_matrix: UdrCorrelation; filter_low_kl: boolean; kl_filter_threshold: number } }[];
}

function main(): void {
  if (!udrPy || !existsSync(udrPy)) {
    throw new Error(
      'set DCIGN_DLIB_UDR_PY to disentanglement_lib/evaluation/udr/metrics/udr.py (from google-research/disentanglement_lib ' +
        'at the commit test/fixtures/udr/README.md names; the PyPI release has no udr package)',
    );
  }
  const c = JSON.parse(readFileSync(casePath, 'utf8')) as Case;
  execFileSync('bash', [path.join(repoRoot, 'scripts', 'setup-dlib-bench.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  const ref = JSON.parse(
    execFileSync(path.join(venv, 'bin', 'python'), [path.join(repoRoot, 'bench', 'udr_reference.py'), udrPy, casePath], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  ) as { seconds: Record<string, number>; cpu_seconds: Record<string, number>; values: Record<string, { model_scores: number[] }> };
  console.log(`case: ${casePath} (${c.models.length} models x ${c.models[0]?.codes.length} images)`);
  console.log('run                    ours cpu s   ref cpu s   ours wall s  ref wall s   max |model score diff|');
  let ours = 0;
  let reference = 0;
  for (const r of c.runs) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const got = udrFromRepresentations(c.models, {
      correlation: r.params.correlation_matrix,
      filterLowKl: r.params.filter_low_kl,
      klFilterThreshold: r.params.kl_filter_threshold,
    });
    const cu = process.cpuUsage(c0);
    const cpu = (cu.user + cu.system) / 1e6;
    const wall = (performance.now() - t0) / 1000;
    const expected = ref.values[r.name]?.model_scores ?? [];
    const diff = Math.max(...got.modelScores.map((v, i) => Math.abs(v - (expected[i] ?? NaN))));
    const rc = ref.cpu_seconds[r.name] as number;
    ours += cpu;
    reference += rc;
    console.log(
      `${r.name.padEnd(22)} ${cpu.toFixed(3).padStart(10)} ${rc.toFixed(3).padStart(11)} ${wall.toFixed(3).padStart(13)} ${(ref.seconds[r.name] as number).toFixed(3).padStart(11)}   ${diff.toExponential(1)}`,
    );
  }
  console.log('ratio = reference seconds / our seconds (higher is better)');
  console.log(JSON.stringify({ bench: 'udr', ours, reference, unit: 'cpu_s', ratio: reference / ours }));
}

main();
