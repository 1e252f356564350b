// Local workers started by `npm run demo`: detached `dcign worker` processes whose pids are recorded beside the
// stack's, so `dcign dev down` stops them too.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './paths.js';

interface WorkerRecord {
  readonly pid: number;
  readonly args: readonly string[];
  readonly logFile: string;
}

const file = (stateDir: string) => join(stateDir, 'workers.json');

function read(stateDir: string): WorkerRecord[] {
  return existsSync(file(stateDir)) ? (JSON.parse(readFileSync(file(stateDir), 'utf8')) as WorkerRecord[]) : [];
}

function isOurWorker(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('worker');
  } catch {
    return false;
  }
}

/** Running workers recorded in the state dir. */
export function localWorkers(stateDir: string): WorkerRecord[] {
  return read(stateDir).filter((w) => isOurWorker(w.pid));
}

export function startLocalWorker(stateDir: string, name: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): WorkerRecord {
  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  const logFile = join(stateDir, 'logs', `${name}.log`);
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(process.execPath, [join(projectRoot, 'dist', 'src', 'cli', 'main.js'), 'worker', ...args], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...env },
    });
    if (child.pid === undefined) throw new Error('could not start a worker process');
    child.unref();
    const record = { pid: child.pid, args, logFile };
    writeFileSync(file(stateDir), JSON.stringify([...localWorkers(stateDir), record], null, 2));
    return record;
  } finally {
    closeSync(fd);
  }
}

/** Stops recorded workers (SIGTERM lets them drain and kill their training children); returns how many. */
export async function stopLocalWorkers(stateDir: string): Promise<number> {
  const workers = localWorkers(stateDir);
  for (const w of workers) {
    try {
      process.kill(-w.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  for (let i = 0; i < 150 && workers.some((w) => isOurWorker(w.pid)); i++) await new Promise((r) => setTimeout(r, 100));
  for (const w of workers) {
    if (!isOurWorker(w.pid)) continue;
    try {
      process.kill(-w.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  rmSync(file(stateDir), { force: true });
  return workers.length;
}

/** Log files of the local workers, running or not (they outlive `dev down` for post-mortems), by name. */
export function workerLogFiles(stateDir: string): string[] {
  const dir = join(stateDir, 'logs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^worker-.*\.log$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}
