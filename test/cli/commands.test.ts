// The built CLI (`node dist/src/cli/main.js`) run as a user runs it, as a child process: `dcign train` on a tiny model,
// `--resume`, `dcign eval` of what it trained, and `dcign demo`'s argument handling and its refusal of a taken port
// (before anything starts). Each asserts exit codes, output lines, files and error messages.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import test from 'ava';

import { freePort } from '../../src/stack/ports.js';
import { runCli, type CliOutcome } from '../helpers/cli.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { decodePng } from '../../src/viz/png.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'dcign-cli-'));
const runDir = path.join(tmp, 'run');
// A user's shell in this project, minus any stack they point at: the state dir is ours.
const env: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !['TEMPORAL_ADDRESS', 'TEMPORAL_UI', 'MLFLOW_TRACKING_URI'].includes(k))),
  DCIGN_STATE_DIR: path.join(tmp, 'state'),
};

const dcign = (args: string[]): Promise<CliOutcome> => runCli(args, env);

const jsonLines = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

const TRAIN = ['train', '--dataset', 'dsprites-small', '--latent', '3', '--batch-size', '8', '--log-every', '2', '--checkpoint-every', '2', '--no-mlflow', '--json'];

test.serial('train: a tiny run logs, checkpoints and completes; --resume continues it to more steps', async (t) => {
  const first = await dcign([...TRAIN, '--steps', '4', '--run-dir', runDir]);
  t.is(first.code, 0, first.stderr);
  const lines = jsonLines(first.stdout);
  t.deepEqual(lines.filter((l) => l.type === 'log').map((l) => l.step), [2, 4]);
  t.deepEqual(lines.filter((l) => l.type === 'checkpoint').map((l) => l.step), [2, 4]);
  for (const l of lines.filter((x) => x.type === 'log')) t.true(Number.isFinite(l.loss), JSON.stringify(l));
  const done = lines.find((l) => l.type === 'done') as { result: { status: string; step: number; lastCheckpoint: string } } | undefined;
  t.like(done?.result, { status: 'completed', step: 4, lastCheckpoint: path.join(runDir, 'checkpoints', 'step-00000004') });
  const summary = JSON.parse(readFileSync(path.join(runDir, 'summary.json'), 'utf8')) as { result: { status: string; step: number } };
  t.like(summary.result, { status: 'completed', step: 4 });
  t.is((await loadCheckpoint(runDir)).state.step, 4);

  const resumed = await dcign(['train', '--resume', runDir, '--steps', '6', '--no-mlflow', '--json']);
  t.is(resumed.code, 0, resumed.stderr);
  const rl = jsonLines(resumed.stdout);
  t.deepEqual(rl.filter((l) => l.type === 'log').map((l) => l.step), [6], 'only the new steps are trained');
  t.is((await loadCheckpoint(runDir)).state.step, 6);
});

test.serial('train: bad flags fail with exit 1 and the field, and start nothing', async (t) => {
  const bad = await dcign([...TRAIN, '--steps', '4', '--beta', '-1', '--run-dir', path.join(tmp, 'bad')]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /model\.beta must be >= 0/);
  const replicas = await dcign([...TRAIN, '--steps', '4', '--replicas', '0', '--run-dir', path.join(tmp, 'bad')]);
  t.not(replicas.code, 0);
  t.regex(replicas.stderr, /--replicas must be a positive integer, got 0/);
  await t.throwsAsync(loadCheckpoint(path.join(tmp, 'bad')), { message: /no checkpoint/ });
});

test.serial('eval: metrics.json, the MI heatmap, traversals and reconstructions of the trained run', async (t) => {
  const out = path.join(tmp, 'eval');
  const r = await dcign(['eval', runDir, '--out', out, '--num-train', '100', '--num-test', '50', '--skip-sampling', '--traversal-steps', '3']);
  t.is(r.code, 0, r.stderr);
  const file = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8')) as {
    checkpoint: string;
    step: number;
    dataset: string;
    metrics: Record<string, number>;
    errors: Record<string, string>;
    factorNames: string[];
  };
  t.is(file.checkpoint, path.join(runDir, 'checkpoints', 'step-00000006'), 'the run folder resolves to its latest checkpoint');
  t.is(file.step, 6);
  t.is(file.dataset, 'dsprites-small');
  t.deepEqual(file.errors, {});
  t.deepEqual(file.factorNames, ['shape', 'scale', 'orientation', 'posX', 'posY']);
  const scores = ['mig', 'modularity', 'sap', 'sap_continuous', 'explicitness_train', 'explicitness_test', 'dci_disentanglement', 'dci_completeness', 'irs'];
  for (const k of scores) t.true((file.metrics[k] ?? -1) >= 0 && (file.metrics[k] ?? 2) <= 1, `${k} = ${file.metrics[k]}`);
  t.false('beta_vae' in file.metrics || 'factor_vae' in file.metrics, '--skip-sampling skips BetaVAE and FactorVAE');
  // The last stdout line is the same result.
  const last = jsonLines(r.stdout).pop() as { metrics: Record<string, number> };
  t.deepEqual(last.metrics, file.metrics);
  for (const png of ['mi-heatmap.png', 'traversals.png', 'reconstructions.png']) {
    const img = decodePng(readFileSync(path.join(out, png)));
    t.true(img.width > 32 && img.height > 32, `${png}: ${img.width}x${img.height}`);
  }
  // Latent traversals: 3 latents x 3 steps of 32x32 images, so the grid is at least 3 images wide and tall.
  const trav = decodePng(readFileSync(path.join(out, 'traversals.png')));
  t.true(trav.width >= 3 * 32 && trav.height >= 3 * 32, `${trav.width}x${trav.height}`);
});

test.serial('eval: a missing checkpoint and a too-small sample are refused with what to do', async (t) => {
  const missing = await dcign(['eval', path.join(tmp, 'nope'), '--out', path.join(tmp, 'e2')]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /no checkpoint at .*nope: expected a checkpoint directory \(with state\.json\) or a run directory with checkpoints\/LATEST/);
  const small = await dcign(['eval', runDir, '--out', path.join(tmp, 'e2'), '--num-train', '5']);
  t.not(small.code, 0);
  t.regex(small.stderr, /--num-train must be an integer >= 20 \(the histogram has 20 bins\), got 5/);
});

test.serial('demo: bad counts are refused before anything starts', async (t) => {
  const workers = await dcign(['demo', '--workers', '0']);
  t.not(workers.code, 0);
  t.regex(workers.stderr, /--workers must be a positive integer, got 0/);
  const slots = await dcign(['demo', '--slots', '1.5']);
  t.not(slots.code, 0);
  t.regex(slots.stderr, /--slots must be a positive integer, got 1\.5/);
});

async function occupy(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return server;
}

for (const [flag, which] of [
  ['--temporal-port', 0],
  ['--mlflow-port', 2],
] as const) {
  test.serial(`demo: a taken ${flag} fails naming the port and the flag, and leaves nothing running`, async (t) => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const taken = ports[which] as number;
    const blocker = await occupy(taken);
    const stateDir = path.join(tmp, `state-${which}`);
    try {
      const r = await dcign([
        'demo', '--temporal-port', String(ports[0]), '--temporal-ui-port', String(ports[1]), '--mlflow-port', String(ports[2]), '--state-dir', stateDir,
      ]);
      t.is(r.code, 1, r.stdout);
      t.regex(r.stderr, new RegExp(`port ${taken} \\(.*\\) is already in use by another process\\. Stop that process or choose another port with ${flag} <port>`));
      const status = await dcign(['dev', 'status', '--json', '--state-dir', stateDir]);
      const services = status.stdout.trim() === '' ? [] : (JSON.parse(status.stdout) as { name: string; running: boolean }[]);
      t.deepEqual(services.filter((s) => s.running).map((s) => s.name), [], 'no server was left running');
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
}
