// `dcign sweep dashboard <name>`: optuna-dashboard (from the optuna venv) on the study's own storage, on loopback
// unless told otherwise: the study is the sweep's, so what it shows is what the sweep told Optuna.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

import { optunaPython } from './driver-client.js';

export interface DashboardOptions {
  readonly storage: string;
  readonly study: string;
  readonly host: string;
  readonly port: number;
}

/** The optuna-dashboard command for a study's storage. */
export function dashboardCommand(o: DashboardOptions): { command: string; args: string[] } {
  if (o.storage.includes(':***@')) {
    throw new Error(`the study's storage ${o.storage} needs its password: pass the full URL with --storage`);
  }
  const command = path.join(path.dirname(optunaPython()), 'optuna-dashboard');
  if (!existsSync(command)) throw new Error(`no optuna-dashboard at ${command}: run \`bash scripts/setup-optuna.sh\``);
  return { command, args: [o.storage, '--host', o.host, '--port', String(o.port)] };
}

/** Runs the dashboard until it exits (Ctrl-C). */
export async function runDashboard(o: DashboardOptions): Promise<void> {
  const { command, args } = dashboardCommand(o);
  console.log(`optuna-dashboard for study ${o.study}: http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}/dashboard/studies (storage ${o.storage}); Ctrl-C stops it`);
  const child = spawn(command, args, { stdio: 'inherit' });
  // Stopping the CLI stops the dashboard (it is ours; a signal to this process alone would leave it serving).
  const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
  process.once('SIGINT', forward);
  process.once('SIGTERM', forward);
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, sig) => (code === 0 || sig === 'SIGINT' || sig === 'SIGTERM' ? resolve() : reject(new Error(`optuna-dashboard exited with ${sig ?? code}`))));
  });
}
