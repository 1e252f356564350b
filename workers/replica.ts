// Supervises one replica child process: spawns it (through the guard) with its device set, parses its JSON-lines
// protocol, and kills its process group on cancellation. Knows nothing about Temporal.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A line the replica child writes on stdout (src/parallel/replica-child.ts). */
export type ReplicaMessage =
  | { type: 'log'; step: number; scalars: Record<string, number> }
  | { type: 'checkpoint'; step: number; path: string }
  | { type: 'done'; result: Record<string, unknown> }
  | { type: 'error'; message: string; kind?: string; code?: string };

export interface ReplicaExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly done?: Record<string, unknown>;
  readonly error?: { message: string; kind?: string };
  /** Last lines of stderr, for the failure message. */
  readonly stderrTail: string;
}

export interface ReplicaProcess {
  readonly pid: number | undefined;
  readonly exited: Promise<ReplicaExit>;
  /** Stops the replica and its group (SIGTERM, then SIGKILL after a grace period). */
  kill(): void;
}

export interface SpawnReplicaOptions {
  /**
   * `node <guard.js>` for replica commands that do not watch their stdin; empty for ones that do (replica-child.ts
   * stops when stdin closes under DCIGN_WATCH_STDIN=1), which saves a process start per replica.
   */
  readonly guard: readonly string[];
  /** The replica command, e.g. [node, dist/src/parallel/replica-child.js, config.json]. */
  readonly command: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly onMessage: (m: ReplicaMessage) => void;
}

export function spawnReplica(o: SpawnReplicaOptions): ReplicaProcess {
  // The replica (or its guard) leads a new process group, so one signal stops it and everything it started. Its
  // stdin is a pipe we never write: when this process dies, even by SIGKILL, the pipe closes and the replica
  // (DCIGN_WATCH_STDIN=1) or the guard stops.
  const [exe, ...args] = [...o.guard, ...o.command];
  const env = o.guard.length > 0 ? o.env : { ...o.env, DCIGN_WATCH_STDIN: '1' };
  const child = spawn(exe as string, args, { stdio: ['pipe', 'pipe', 'pipe'], env, cwd: o.cwd, detached: true });
  let done: Record<string, unknown> | undefined;
  let error: { message: string; kind?: string } | undefined;
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    let m: ReplicaMessage;
    try {
      m = JSON.parse(line) as ReplicaMessage;
    } catch {
      return; // not protocol: a stray print of a library
    }
    if (m.type === 'done') done = m.result;
    else if (m.type === 'error') error = { message: m.message, ...(m.kind ?? m.code ? { kind: m.kind ?? m.code } : {}) };
    o.onMessage(m);
  });
  const exited = new Promise<ReplicaExit>((resolve) => {
    const closed = new Promise<void>((r) => lines.once('close', () => r()));
    child.once('error', (err) => {
      error = { message: `cannot start the replica: ${err.message}`, kind: 'spawn' };
    });
    child.once('close', (code, signal) => {
      void closed.then(() =>
        resolve({ code, signal, ...(done ? { done } : {}), ...(error ? { error } : {}), stderrTail: stderr.split('\n').slice(-15).join('\n') }),
      );
    });
  });
  let killed = false;
  return {
    pid: child.pid,
    exited,
    kill: () => {
      if (killed || child.exitCode !== null || child.signalCode !== null) return;
      killed = true;
      signalGroup(child.pid, 'SIGTERM'); // the replica's group (with the guard, if any)
      const hard = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) signalGroup(child.pid, 'SIGKILL');
      }, 5000);
      hard.unref();
    },
  };
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone
  }
}
