// Makes sure a replica process never outlives its worker:
//   node dist/workers/replica-guard.js <command> [args...]
// The worker starts this guard as the leader of a new process group; the replica (and anything it starts) joins that
// group. The worker holds the guard's stdin open; when the worker dies (even by SIGKILL) the pipe closes and the guard
// kills the whole group. SIGTERM/SIGINT to the guard do the same; the worker can also signal the group directly. The
// replica's stdin (the supervisor's rendezvous answer), stdout and stderr pass through unchanged; the guard exits with
// the replica's status.
import { spawn } from 'node:child_process';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: replica-guard <command> [args...]');
  process.exit(2);
}

const env = { ...process.env };
delete env.DCIGN_WATCH_STDIN; // the replica's stdin is not ours to watch: we watch for it
const child = spawn(command, args, { stdio: ['pipe', 'inherit', 'inherit'], detached: false, env });
child.stdin.on('error', () => undefined); // the replica may be gone already
let stopping = false;

function killGroup(signal: NodeJS.Signals): void {
  try {
    process.kill(-process.pid, signal); // our own group: the replica and its descendants (we ignore SIGTERM ourselves)
  } catch {
    // the group is gone already
  }
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  killGroup('SIGTERM');
  // A replica that ignores SIGTERM (stuck in native code) is killed hard.
  setTimeout(() => killGroup('SIGKILL'), 3000).unref();
}

process.stdin.on('data', (chunk: Buffer) => child.stdin.write(chunk));
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.on('error', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('SIGHUP', stop);

child.on('error', (err) => {
  // on stdout, in the replica protocol, so the worker reports it (a command that cannot start is a configuration error)
  console.log(JSON.stringify({ type: 'error', kind: 'config', message: `cannot start ${command}: ${err.message}` }));
  process.exit(127);
});
child.on('exit', (code, signal) => {
  process.exit(code ?? (signal ? 128 + (signalNumber(signal) ?? 1) : 1));
});

function signalNumber(signal: NodeJS.Signals): number | undefined {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGABRT: 6, SIGSEGV: 11 } as Record<string, number>)[signal];
}
