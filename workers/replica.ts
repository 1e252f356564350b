// Supervises one replica child process: spawns it (through the guard) with its device set, speaks its protocol
// (src/train/replica-protocol.ts), and kills its process group on cancellation. Knows nothing about Temporal.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

import type { RendezvousResult } from '../src/parallel/types.js';
import {
  encodeMessage,
  parseReplicaMessage,
  type ReplicaMessage,
  type ReplicaOutput,
} from '../src/train/replica-protocol.js';

export type ReplicaError = Extract<ReplicaMessage, { type: 'error' }>;

export interface ReplicaExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly done?: ReplicaOutput;
  readonly error?: ReplicaError;
  /** Last lines of stderr, for the failure message. */
  readonly stderrTail: string;
}

export interface ReplicaProcess {
  readonly pid: number | undefined;
  readonly exited: Promise<ReplicaExit>;
  /** Answers the replica's `bound` line with its group (the supervisor rendezvous). */
  answerRendezvous(result: RendezvousResult): void;
  /** Asks the replica to stop at its next step boundary with a checkpoint (src/train/replica-protocol.ts). */
  requestPause(): void;
  /** Stops the replica and its group (SIGTERM, then SIGKILL after a grace period). */
  kill(): void;
}

export interface SpawnReplicaOptions {
  /**
   * `node <guard.js>` for replica commands that do not watch their stdin; empty for ones that do (replica-child.ts
   * stops when stdin closes), which saves a process start per replica. The guard passes stdin through.
   */
  readonly guard: readonly string[];
  /** The replica command, e.g. [node, dist/src/train/replica-child.js, config.json]. */
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
  let done: ReplicaOutput | undefined;
  let error: ReplicaError | undefined;
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    const m = parseReplicaMessage(line);
    if (m === undefined) return; // not protocol: a stray print of a library
    if (m.type === 'done') done = m.output;
    else if (m.type === 'error') error = m;
    o.onMessage(m);
  });
  child.stdin.on('error', () => undefined); // the replica may be gone already
  const exited = new Promise<ReplicaExit>((resolve) => {
    const closed = new Promise<void>((r) => lines.once('close', () => r()));
    child.once('error', (err) => {
      // a command that cannot start never will: treated as a bad configuration
      error = { type: 'error', kind: 'config', message: `cannot start the replica (${exe}): ${err.message}` };
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
    answerRendezvous: (result) => {
      child.stdin.write(encodeMessage({ type: 'rendezvous', result }));
    },
    requestPause: () => {
      if (child.exitCode === null && child.signalCode === null) child.stdin.write(encodeMessage({ type: 'pause' }));
    },
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
