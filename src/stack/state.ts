// The local stack's record (.dcign/stack.json): the options `dcign dev up` started it with (so its ports) and the
// pid of each server. Read by `dev status|down|logs` and by every command that builds an address or a link.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceName, StackOptions } from './services.js';

export interface ServiceRecord {
  readonly pid: number;
  readonly binary: string;
  readonly startedAt: string;
  readonly url: string;
  readonly logFile: string;
  /** How `down` stops it (absent: SIGTERM to its process group). */
  readonly stopSignal?: NodeJS.Signals;
  readonly signalGroup?: boolean;
}

export interface StackState {
  readonly options: StackOptions;
  readonly services: Partial<Record<ServiceName, ServiceRecord>>;
}

export const stackStateFile = (stateDir: string): string => join(stateDir, 'stack.json');

/** The recorded stack, or undefined when `dev up` never ran here or `dev down` cleared it. */
export function readStackState(stateDir: string): StackState | undefined {
  const file = stackStateFile(stateDir);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as StackState;
}

export function writeStackState(stateDir: string, state: StackState): void {
  const file = stackStateFile(stateDir);
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2));
  renameSync(`${file}.tmp`, file);
}

export function clearStackState(stateDir: string): void {
  rmSync(stackStateFile(stateDir), { force: true });
}
