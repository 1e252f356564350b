// `dcign dev up | status | down` against the real Temporal dev server and MLflow server, on free ports in a temp
// state dir so it never touches a developer's running stack.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../src/stack/ports.js';
import { projectRoot } from '../../src/stack/paths.js';
import { parse, stringify } from 'yaml';

const run = promisify(execFile);
const cli = join(projectRoot, 'dist', 'src', 'cli', 'main.js');
const stateDir = mkdtempSync(join(tmpdir(), 'dcign-stack-'));
let flags: string[] = [];
let uiPort = 0;
const dirFlag = ['--state-dir', stateDir];
// Commands run as a user would in this project: no addresses in the environment, the stack's record in stateDir.
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !['TEMPORAL_ADDRESS', 'TEMPORAL_UI', 'MLFLOW_TRACKING_URI'].includes(k)),
);
const dcign = (args: string[]) => run(process.execPath, [cli, ...args], { env: { ...env, DCIGN_STATE_DIR: stateDir }, timeout: 120_000 });

test.before(async () => {
  uiPort = await freePort();
  flags = [
    '--temporal-port', String(await freePort()),
    '--temporal-ui-port', String(uiPort),
    '--mlflow-port', String(await freePort()),
    '--state-dir', stateDir,
  ];
});

test.after.always(async () => {
  await run(process.execPath, [cli, 'dev', 'down', ...dirFlag]).catch(() => undefined);
  rmSync(stateDir, { recursive: true, force: true });
});

const status = async () =>
  JSON.parse((await run(process.execPath, [cli, 'dev', 'status', '--json', ...dirFlag])).stdout) as {
    name: string;
    running: boolean;
    healthy: boolean;
    pid?: number;
  }[];

test.serial('up starts both servers healthy; status reports them; a second up reuses them', async (t) => {
  const up = await run(process.execPath, [cli, 'dev', 'up', ...flags], { timeout: 240_000 });
  t.regex(up.stdout, /temporal\s+healthy/);
  t.regex(up.stdout, /mlflow\s+healthy/);
  t.true(up.stdout.includes(`export TEMPORAL_UI=http://localhost:${uiPort}`), up.stdout);
  const s1 = await status();
  t.deepEqual(s1.map((s) => [s.name, s.running, s.healthy]), [
    ['temporal', true, true],
    ['mlflow', true, true],
  ]);
  const again = await run(process.execPath, [cli, 'dev', 'up', ...flags], { timeout: 240_000 });
  t.regex(again.stderr, /temporal already running/);
  t.deepEqual((await status()).map((s) => s.pid), s1.map((s) => s.pid), 'same processes, nothing restarted');
});

test.serial('a sweep with no worker: start warns at once, status and cancel work, links use the stack\'s UI port', async (t) => {
  const spec = parse(readFileSync(join(projectRoot, 'sweeps', 'smoke.yaml'), 'utf8')) as Record<string, unknown>;
  const specFile = join(stateDir, 'nobody.yaml');
  writeFileSync(specFile, stringify({ ...spec, name: 'nobody', taskQueue: 'e2e-nobody' }));
  const link = `http://localhost:${uiPort}/namespaces/default/workflows/sweep%2Fnobody`;

  const start = await dcign(['sweep', 'start', specFile]);
  t.true(start.stdout.includes(`Temporal: ${link}`), start.stdout);
  t.regex(start.stderr, /warning: no worker is polling task queue e2e-nobody; start one with `dcign worker --task-queue e2e-nobody`/);

  const status = await dcign(['sweep', 'status', 'nobody']);
  t.regex(status.stdout, /nobody: RUNNING in Temporal, no progress to show: no worker is polling task queue e2e-nobody/);
  t.true(status.stdout.includes(link), status.stdout);

  const cancel = await dcign(['sweep', 'cancel', 'nobody']);
  t.regex(cancel.stdout, /sweep 'nobody' terminated by the Temporal server: a cancel signal needs a worker and no worker is polling task queue e2e-nobody/);
  t.regex((await dcign(['sweep', 'list'])).stdout, /nobody\s+TERMINATED/);
});

test.serial('down stops exactly what up started; status then says the stack is down', async (t) => {
  const pids = (await status()).map((s) => s.pid as number);
  const down = await run(process.execPath, [cli, 'dev', 'down', ...dirFlag]);
  t.regex(down.stdout, /stopped: temporal, mlflow/);
  for (const pid of pids) t.throws(() => process.kill(pid, 0), undefined, `pid ${pid} is gone`);
  t.deepEqual((await status()).map((s) => [s.running, s.healthy]), [
    [false, false],
    [false, false],
  ]);
  const text = await run(process.execPath, [cli, 'dev', 'status', ...dirFlag]);
  t.is(text.stdout.trim(), `the local stack is down (nothing recorded in ${stateDir}); start it with \`dcign dev up\``);
});

test.serial('a port already taken fails with the port and the flag that changes it, starting nothing', async (t) => {
  const blocker: Server = createServer();
  const port = await freePort();
  await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
  try {
    const mlflowIndex = flags.indexOf('--mlflow-port');
    const blocked = [...flags];
    blocked[mlflowIndex + 1] = String(port);
    const err = await t.throwsAsync(run(process.execPath, [cli, 'dev', 'up', ...blocked]));
    t.regex(String((err as { stderr?: string }).stderr), new RegExp(`port ${port} \\(MLflow tracking server\\) is already in use.*--mlflow-port`));
    t.false((await status()).some((s) => s.running), 'nothing was left running');
  } finally {
    blocker.close();
  }
});
