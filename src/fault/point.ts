// Named fault points for tests that SIGKILL a real process at a moment they choose. With DCIGN_FAULT_POINT=<name>
// (and optionally DCIGN_FAULT_STEP=<n>: only at that step or later), the process that reaches the point writes
// DCIGN_FAULT_FILE (default <tmp>/dcign-fault-<pid>) with {point, step, pid} and then blocks its whole thread, as a
// process frozen at that instruction would be, until someone kills it. The point fires once: whoever creates the file
// first freezes; every later arrival (a peer at the same step, the next generation) passes, so the run can recover. Without the variables a point is one string
// comparison: the production path is the same with and without a test watching it.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The points the code offers (a test names one of these). */
export type FaultPointName = 'losses-released' | 'checkpoint-upload' | 'after-allreduce' | 'pbt-copy' | 'pbt-copied';

export function faultPoint(name: FaultPointName, step: number, env: NodeJS.ProcessEnv = process.env): void {
  if (env.DCIGN_FAULT_POINT !== name) return;
  const from = env.DCIGN_FAULT_STEP === undefined ? 0 : Number(env.DCIGN_FAULT_STEP);
  if (step < from) return;
  const file = env.DCIGN_FAULT_FILE ?? path.join(os.tmpdir(), `dcign-fault-${process.pid}`);
  try {
    writeFileSync(file, `${JSON.stringify({ point: name, step, pid: process.pid })}\n`, { flag: 'wx' });
  } catch {
    return; // fired already
  }
  // Atomics.wait blocks this thread for good: no timer, socket or heartbeat of this process runs any more.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}
