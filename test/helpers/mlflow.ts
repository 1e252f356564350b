// Starts a real MLflow tracking server for tests and benchmarks: SQLite store and proxied artifacts in a temp dir, a
// free port (never 5000, which the dev stack uses). Start it in test.before and stop it in test.after.always.
// A server takes from several seconds to half a minute to come up, so a whole-suite ava run starts one in
// ava.config.js and hands its URI to every test file in DCIGN_TEST_MLFLOW_URI: testMlflowServer() uses it when set
// (each file keeps to its own experiment names) and starts a server of the file's own otherwise. A test that stops
// or restarts its server (an outage) calls startMlflowServer() for a server of its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const MLFLOW_BIN = process.env.DCIGN_MLFLOW_BIN ?? path.join(os.homedir(), '.cache', 'dcign', 'mlflow-venv', 'bin', 'mlflow');
export const MLFLOW_PYTHON = path.join(path.dirname(MLFLOW_BIN), 'python');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface MlflowServer {
  uri: string;
  port: number;
  dir: string;
  /** SIGTERM to the server's process group; resolves when it has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port, store and artifacts. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  dispose(): Promise<void>;
  logTail(): string;
}

export interface StartOptions {
  port?: number;
  /**
   * The address to bind and to reach it at (default 127.0.0.1). A non-loopback address is added to the server's
   * --allowed-hosts: MLflow refuses a Host header that is not localhost or a private address.
   */
  host?: string;
  dir?: string;
  /** Extra arguments for `mlflow server`. */
  args?: string[];
  readyTimeoutMs?: number;
  /**
   * Let this process exit while the server runs (it is still killed on exit): for a server started outside any test,
   * by ava.config.js, whose process must end once the tests are done.
   */
  unref?: boolean;
}

async function waitReady(uri: string, proc: ChildProcess, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`mlflow server exited early (${proc.exitCode ?? proc.signalCode}):\n${tail(logFile)}`);
    }
    try {
      const res = await fetch(`${uri}/health`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`mlflow server not ready after ${timeoutMs} ms:\n${tail(logFile)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function startMlflowServer(o: StartOptions = {}): Promise<MlflowServer> {
  if (!existsSync(MLFLOW_BIN)) {
    throw new Error(`MLflow is not installed at ${MLFLOW_BIN}: run scripts/setup-mlflow.sh (or set DCIGN_MLFLOW_BIN)`);
  }
  const dir = o.dir ?? mkdtempSync(path.join(os.tmpdir(), 'dcign-mlflow-'));
  const port = o.port ?? (await freePort());
  const host = o.host ?? '127.0.0.1';
  const uri = `http://${host}:${port}`;
  const hostArgs = host.startsWith('127.') ? [] : ['--allowed-hosts', [host, `${host}:${port}`, 'localhost', '127.0.0.1'].join(',')];
  const logFile = path.join(dir, 'server.log');
  let proc: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    const out = openSync(logFile, 'a');
    proc = spawn(
      MLFLOW_BIN,
      [
        'server',
        '--backend-store-uri',
        `sqlite:///${path.join(dir, 'mlflow.db')}`,
        '--artifacts-destination',
        path.join(dir, 'artifacts'),
        '--serve-artifacts',
        '--host',
        host,
        '--port',
        String(port),
        '--workers',
        '1',
        ...hostArgs,
        ...(o.args ?? []),
      ],
      // Own process group, so stop() reaches the server's worker processes too.
      { cwd: dir, detached: true, stdio: ['ignore', out, out], env: { ...process.env, MLFLOW_TRACKING_URI: '' } },
    );
    if (o.unref === true) proc.unref();
    // If this process ends without stop() (a killed test run), do not leave the server behind.
    const pid = proc.pid;
    const reap = (): void => {
      try {
        if (pid !== undefined) process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    process.once('exit', reap);
    proc.once('exit', () => process.off('exit', reap));
    try {
      await waitReady(uri, proc, logFile, o.readyTimeoutMs ?? 300_000);
    } catch (err) {
      reap(); // a server that never came up must not outlive the failed start
      throw err;
    }
  };

  const stop = async (): Promise<void> => {
    const p = proc;
    if (p === undefined || p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    try {
      process.kill(-p.pid, 'SIGTERM');
    } catch {
      return;
    }
    const killer = setTimeout(() => {
      try {
        process.kill(-(p.pid as number), 'SIGKILL');
      } catch {
        // gone already
      }
    }, 10_000);
    await exited;
    clearTimeout(killer);
    // Workers of the group may outlive the parent for a moment: wait until the port is free.
    for (let i = 0; i < 100; i++) {
      const busy = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, host);
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      if (!busy) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  await start();
  return {
    uri,
    port,
    dir,
    stop,
    start,
    dispose: async () => {
      await stop();
      if (o.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
    logTail: () => tail(logFile),
  };
}

/** The URI of the server shared by a whole ava run (set by ava.config.js), if any. */
export const SHARED_MLFLOW_ENV = 'DCIGN_TEST_MLFLOW_URI';

/**
 * The MLflow server for a test file: the run's shared server when ava.config.js started one, else a server of the
 * file's own. Use your own experiment names. The shared server cannot be stopped or restarted from a test file;
 * dispose() leaves it running for the other files.
 */
export async function testMlflowServer(): Promise<MlflowServer> {
  const uri = process.env[SHARED_MLFLOW_ENV];
  if (uri === undefined || uri === '') return startMlflowServer();
  const refuse = (): Promise<void> =>
    Promise.reject(new Error(`the MLflow server at ${uri} is shared by this ava run (${SHARED_MLFLOW_ENV}): a test that stops it needs startMlflowServer()`));
  return {
    uri,
    port: Number(new URL(uri).port),
    dir: '',
    stop: refuse,
    start: refuse,
    dispose: () => Promise.resolve(),
    logTail: () => `(shared server ${uri}: its log is in the directory ava.config.js printed)`,
  };
}
