// Time to compute every disentanglement metric of one conformance case, ours next to the reference implementation
// itself (google-research/disentanglement_lib from PyPI, unchanged, with scikit-learn 1.9.1; venv prepared by
// scripts/setup-dlib-bench.sh), in one run, on the same inputs. The headline figure is CPU seconds (this machine is
// shared, so wall-clock time mostly measures the neighbours); wall seconds are printed too.
// Last line: {"bench":"metrics","ours":S,"reference":S,"unit":"cpu_s","ratio":reference/ours} -- higher is better.
//
// Usage: node dist/bench/metrics.js [case.json]   (default: test/fixtures/conformance/A4_noisy_perfect.json, which
// exercises every metric)
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCase, scoreCaseMetric } from '../src/metrics/case.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const casePath = process.argv[2] ?? path.join(repoRoot, 'test', 'fixtures', 'conformance', 'A4_noisy_perfect.json');
const venv = process.env.DCIGN_DLIB_VENV ?? path.join(os.homedir(), '.cache', 'dcign', 'dlib-venv');

interface Timing {
  wall: number;
  cpu: number;
  values: Record<string, number>;
}

async function ours(): Promise<Record<string, Timing>> {
  const c = await readCase(casePath);
  const out: Record<string, Timing> = {};
  for (const name of Object.keys(c.metrics)) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const values = await scoreCaseMetric(c, name, 0);
    const cpu = process.cpuUsage(c0);
    out[name] = { wall: (performance.now() - t0) / 1000, cpu: (cpu.user + cpu.system) / 1e6, values };
  }
  return out;
}

function reference(): Record<string, Timing> {
  execFileSync('bash', [path.join(repoRoot, 'scripts', 'setup-dlib-bench.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  const script = path.join(repoRoot, 'bench', 'metrics_reference.py');
  const stdout = execFileSync(path.join(venv, 'bin', 'python'), [script, casePath], {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const r = JSON.parse(stdout) as {
    seconds: Record<string, number>;
    cpu_seconds: Record<string, number>;
    values: Record<string, Record<string, number>>;
  };
  const out: Record<string, Timing> = {};
  for (const name of Object.keys(r.seconds)) {
    out[name] = { wall: r.seconds[name] as number, cpu: r.cpu_seconds[name] as number, values: r.values[name] ?? {} };
  }
  return out;
}

async function run(): Promise<void> {
  console.log(`case: ${casePath}`);
  const o = await ours();
  const ref = reference();
  let oursCpu = 0;
  let refCpu = 0;
  let oursWall = 0;
  let refWall = 0;
  console.log('metric                         ours cpu s   ref cpu s   ours wall s  ref wall s   values (ours | reference)');
  for (const name of Object.keys(o)) {
    const a = o[name] as Timing;
    const b = ref[name];
    if (!b) throw new Error(`the reference did not time ${name}`);
    oursCpu += a.cpu;
    refCpu += b.cpu;
    oursWall += a.wall;
    refWall += b.wall;
    const vals = Object.keys(a.values)
      .map((k) => `${k}=${(a.values[k] as number).toFixed(6)}|${(b.values[k] ?? NaN).toFixed(6)}`)
      .join(' ');
    console.log(
      `${name.padEnd(30)} ${a.cpu.toFixed(2).padStart(10)} ${b.cpu.toFixed(2).padStart(11)} ${a.wall
        .toFixed(2)
        .padStart(13)} ${b.wall.toFixed(2).padStart(11)}   ${vals}`,
    );
  }
  console.log(
    `total                          ${oursCpu.toFixed(2).padStart(10)} ${refCpu.toFixed(2).padStart(11)} ${oursWall
      .toFixed(2)
      .padStart(13)} ${refWall.toFixed(2).padStart(11)}`,
  );
  console.log('ratio = reference seconds / our seconds (higher is better)');
  console.log(
    JSON.stringify({ bench: 'metrics', ours: oursCpu, reference: refCpu, unit: 'cpu_s', ratio: refCpu / oursCpu }),
  );
}

run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
