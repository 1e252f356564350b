// The whole test suite as `npm test` runs it (after the build): lint beside the tests, test files two at a time
// except those that must run alone, one MLflow server shared by every file, and one closing count.
//
// Why two at a time: most files spend their time waiting (servers starting, replicas rendezvousing, uploads), so two
// overlap well on two cores. Why some alone: their assertions rest on timing (heartbeat timeouts, outages, kills of
// real replicas, shaped links between namespace hosts) or on the machine's fixed ports, and a second file beside them
// would change what they measure. They run after the others, one at a time, as the whole suite did before.
//
//   node dist/test/run-suite.js            everything
//   DCIGN_TEST_CONCURRENCY=1 ...           every file one at a time (the old behaviour), e.g. to rule out interference
import { spawn } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

import { SHARED_MLFLOW_ENV, startMlflowServer } from './helpers/mlflow.js';

const root = process.cwd();
const distTest = path.join(root, 'dist', 'test');

/** Files (under dist/test, without .test.js) that run alone, after the rest, and why. */
const ALONE: Readonly<Record<string, string>> = {
  'cluster/cluster': 'namespace hosts, tc-shaped links and link cuts; the machine-wide network set-up',
  'workflows/temporal-outage': 'a Temporal outage shorter and longer than the heartbeat timeout',
  'workflows/real-replica': 'real replica groups killed and restarted against heartbeat timeouts',
  'workflows/sweep': 'replica kills and group restarts timed against heartbeats',
  'workflows/lifecycle': 'pauses and resumes timed against running trials',
  'workflows/early-stopping': 'ASHA decisions raced against training trials',
  'workers/durable-resume': 'a worker killed, MLflow stopped, the trial resumed elsewhere',
  'workers/worker-kill': 'SIGKILL of a worker mid-trial, the heartbeat timeout',
  'workers/checkpoint-uploader': 'MLflow stopped and restarted under uploads with backoff',
  'workers/kill-points': 'a real worker and replicas SIGKILLed at fault points, resumed elsewhere',
  'e2e/real-sweep': 'the real sweep path with a replica SIGKILLed at a checkpoint',
  'stack/dev-stack': "the local stack's default ports (7233, 8233, 5000)",
  'stack/demo': 'the whole demo: a stack, two workers and the smoke sweep, then dev down frees its ports',
  'stack/bindings': 'ports taken and released on purpose',
  'stack/cluster-head': 'the cluster head (PostgreSQL, S3, MLflow, Temporal), a worker and a sweep; a port taken on purpose',
  'tracking/run-logger': 'MLflow stopped mid-run and restarted',
  'parallel/processes': 'ring all-reduce between real processes with timeouts',
  'parallel/curve-processes': 'CURVE rings between real processes with timeouts',
  'parallel/wire': 'strangers on ring sockets, timed drops',
  'parallel/ring': 'in-process rings whose peers must answer within a 5 s ring timeout',
  'train/replica-pause': 'a real 2-replica pause at a step',
};

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return testFiles(p);
    return name.endsWith('.test.js') ? [p] : [];
  });
}

interface Outcome {
  readonly code: number;
  readonly output: string;
}

/** Runs a command, echoing its output live (or, quiet, keeping it for later). */
function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, quiet = false): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const take = (to: NodeJS.WriteStream) => (chunk: Buffer) => {
      output += chunk.toString();
      if (!quiet) to.write(chunk);
    };
    child.stdout.on('data', take(process.stdout));
    child.stderr.on('data', take(process.stderr));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output }));
  });
}

/**
 * The counts of one ava run. Passes are its verbose lines (✔ per passing test): ava prints "N tests passed" only
 * when nothing failed. Failures are its closing "N tests failed", plus uncaught exceptions and files that timed out.
 */
function counts(output: string): { passed: number; failed: number } {
  const last = (re: RegExp): number => Number([...output.matchAll(re)].at(-1)?.[1] ?? 0);
  const passed = [...output.matchAll(/^\s*✔ /gm)].length;
  return { passed, failed: last(/^\s*(\d+) tests? failed/gm) + last(/^\s*(\d+) uncaught exceptions?/gm) + last(/^\s*(\d+) tests? remained pending/gm) };
}

async function main(): Promise<number> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  let serverDir: string | undefined;
  if (env[SHARED_MLFLOW_ENV] === undefined) {
    const t0 = Date.now();
    const server = await startMlflowServer({ unref: true });
    serverDir = server.dir;
    env[SHARED_MLFLOW_ENV] = server.uri;
    console.error(`run-suite: MLflow server shared by every test file at ${server.uri} (up in ${((Date.now() - t0) / 1000).toFixed(1)} s; log ${server.dir}/server.log)`);
  }
  const all = testFiles(distTest).sort();
  const key = (f: string): string => path.relative(distTest, f).replace(/\.test\.js$/, '');
  const unknown = Object.keys(ALONE).filter((k) => !all.some((f) => key(f) === k));
  if (unknown.length > 0) console.error(`run-suite: listed to run alone but not found (renamed or removed?): ${unknown.join(', ')}`);
  const alone = all.filter((f) => ALONE[key(f)] !== undefined);
  const together = all.filter((f) => ALONE[key(f)] === undefined);
  const concurrency = Number(process.env.DCIGN_TEST_CONCURRENCY ?? 2);
  const ava = path.join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');

  const t0 = Date.now();
  const lint = run(process.execPath, [path.join(root, 'node_modules', 'eslint', 'bin', 'eslint.js'), '.'], env, true);
  console.log(`run-suite: ${together.length} files, ${concurrency} at a time; lint beside them`);
  const first = await run(process.execPath, [ava, '--concurrency', String(concurrency), ...together.map((f) => path.relative(root, f))], env);
  const t1 = Date.now();
  console.log(`run-suite: ${together.length} files took ${Math.round((t1 - t0) / 1000)} s; now ${alone.length} files that run alone, one at a time (ALONE in test/run-suite.ts)`);
  const second = await run(process.execPath, [ava, '--concurrency', '1', ...alone.map((f) => path.relative(root, f))], env);
  console.log(`run-suite: the ${alone.length} files run alone took ${Math.round((Date.now() - t1) / 1000)} s`);
  const linted = await lint;
  process.stdout.write(linted.output);
  console.log(`run-suite: lint ${linted.code === 0 ? 'clean' : 'FAILED'}; tests took ${Math.round((Date.now() - t0) / 1000)} s`);
  if (serverDir !== undefined) rmSync(serverDir, { recursive: true, force: true });

  const a = counts(first.output);
  const b = counts(second.output);
  const failed = a.failed + b.failed;
  // One closing line in ava's own words, for .ci/run and for people: the sum of both runs.
  console.log(`\n  ${a.passed + b.passed} tests passed`);
  if (failed > 0) console.log(`  ${failed} tests failed`);
  return first.code !== 0 || second.code !== 0 || linted.code !== 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
