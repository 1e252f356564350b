// A long-lived src/search/optuna_driver.py child (Optuna imports in ~0.3 s; paid once per worker, not per ask),
// spoken to in JSON lines. Requests are answered in order; a driver that dies is started again at the next request.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/src/search
/** The driver's source: Python is not compiled, so it is read from src/ (two levels above dist/src/search). */
export const OPTUNA_DRIVER = path.resolve(here, '../../../src/search/optuna_driver.py');

/** The optuna venv's Python: $DCIGN_OPTUNA_PYTHON, else the one scripts/setup-optuna.sh installs. */
export function optunaPython(): string {
  return process.env.DCIGN_OPTUNA_PYTHON ?? path.join(process.env.DCIGN_CACHE ?? path.join(homedir(), '.cache', 'dcign'), 'optuna-venv', 'bin', 'python');
}

/** The driver said no: a problem of the request (bad sampler for the space, missing dependency), not of the moment. */
export class DriverRefusal extends Error {
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(fix ? `${message}; fix: ${fix}` : message);
    this.name = 'DriverRefusal';
  }
}

type Pending = { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void };

export class OptunaDriver {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stderr = '';

  constructor(
    readonly python = optunaPython(),
    readonly script = OPTUNA_DRIVER,
  ) {}

  async request(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const child = this.start();
    const id = this.nextId++;
    const answer = new Promise<Record<string, unknown>>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    child.stdin.write(`${JSON.stringify({ ...body, id })}\n`);
    const out = await answer;
    if (out.ok !== true) throw new DriverRefusal(String(out.error), typeof out.fix === 'string' ? out.fix : undefined);
    return out;
  }

  close(): void {
    this.child?.stdin.end();
    this.child = undefined;
  }

  private start(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    if (!existsSync(this.python)) {
      throw new DriverRefusal(`no Optuna environment at ${this.python}`, 'run `bash scripts/setup-optuna.sh` (or set DCIGN_OPTUNA_PYTHON to a Python with optuna 5)');
    }
    if (!existsSync(this.script)) throw new DriverRefusal(`the Optuna driver ${this.script} is missing`, 'run from a full checkout of dcign (src/search/optuna_driver.py)');
    const child = spawn(this.python, [this.script], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return; // not ours (a library printing to stdout)
      }
      const p = this.pending.get(Number(msg.id));
      if (!p) return;
      this.pending.delete(Number(msg.id));
      p.resolve(msg);
    });
    const fail = (why: string): void => {
      if (this.child === child) this.child = undefined;
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(new Error(`Optuna driver (${this.python} ${this.script}) ${why}${this.stderr ? `; its stderr: ${this.stderr.trim()}` : ''}`));
      }
    };
    child.on('exit', (code, sig) => fail(`exited (${sig ?? code})`));
    child.on('error', (err) => fail(`could not run: ${err.message}`));
    return child;
  }
}
