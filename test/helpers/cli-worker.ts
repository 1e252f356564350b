// A real `dcign worker` process (the CLI), for tests that SIGKILL or freeze a worker: resolves `ready` on the
// worker's start line, rejects with its stderr tail if it exits first.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

import { CLI } from './cluster.js';

export function spawnCliWorker(args: readonly string[], env: Readonly<Record<string, string>> = {}): { proc: ChildProcess; ready: Promise<void> } {
  const proc = spawn(process.execPath, [CLI, 'worker', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  proc.stderr?.on('data', (c: Buffer) => {
    err = (err + c.toString()).slice(-3000);
  });
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      if (l.startsWith('{"type":"worker"')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${err}`)));
  });
  return { proc, ready };
}
