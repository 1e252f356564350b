// A real Temporal dev server for tests: `temporal server start-dev` on free ports in a temp dir, with dcign's search
// attributes registered. Start it once per test file (test.before) and stop it in test.after.always.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';

import { Client, Connection } from '@temporalio/client';

import { pickFreePorts } from '../../src/parallel/rendezvous.js';
import { SEARCH_ATTRIBUTE_TYPES } from '../../src/contract/index.js';

export const TEMPORAL_BIN = process.env.TEMPORAL_BIN ?? path.join(homedir(), '.cache/dcign/bin/temporal');

export interface TemporalTestServer {
  /** host:port this process dials (127.0.0.1 when the server binds every interface). */
  readonly address: string;
  readonly port: number;
  readonly uiPort: number;
  readonly dir: string;
  readonly client: Client;
  readonly connection: Connection;
  /** Kills the server process (as a crash would), keeping its database; clients see it unreachable. */
  kill(): Promise<void>;
  /** Starts the server again on the same ports and database; resolves once it answers. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export function temporalAvailable(): boolean {
  return existsSync(TEMPORAL_BIN);
}

export interface StartTemporalOptions {
  searchAttributes?: boolean;
  /**
   * The address to bind (default 127.0.0.1). Anything but loopback binds 0.0.0.0, as `dcign dev up` does: the dev
   * server's frontend dials its own internal services on 127.0.0.1. Hosts in network namespaces need it.
   */
  ip?: string;
}

export async function startTemporal(opts: StartTemporalOptions = {}): Promise<TemporalTestServer> {
  if (!temporalAvailable()) throw new Error(`no Temporal CLI at ${TEMPORAL_BIN}: run scripts/setup-temporal.sh (or set TEMPORAL_BIN)`);
  const dir = await mkdtemp(path.join(tmpdir(), 'dcign-temporal-'));
  const [port, uiPort, httpPort, metricsPort] = (await pickFreePorts(4)) as [number, number, number, number];
  const args = ['server', 'start-dev', '--port', String(port), '--ui-port', String(uiPort), '--http-port', String(httpPort)];
  args.push('--metrics-port', String(metricsPort), '--db-filename', path.join(dir, 'temporal.db'), '--namespace', 'default', '--headless');
  const loopback = opts.ip === undefined || opts.ip.startsWith('127.');
  args.push('--ip', loopback ? (opts.ip ?? '127.0.0.1') : '0.0.0.0', '--log-level', 'error');
  if (opts.searchAttributes !== false) {
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTE_TYPES)) args.push('--search-attribute', `${name}=${type}`);
  }
  let stderr = '';
  const launch = (): ChildProcess => {
    const p = spawn(TEMPORAL_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr?.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4000);
    });
    return p;
  };
  let proc = launch();
  const address = `${loopback ? (opts.ip ?? '127.0.0.1') : '127.0.0.1'}:${port}`;
  const deadline = Date.now() + 90_000;
  let connection: Connection | undefined;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`temporal dev server exited with ${proc.exitCode}: ${stderr}`);
    try {
      connection = await Connection.connect({ address, connectTimeout: 2000 });
      await connection.workflowService.getSystemInfo({});
      // Namespace ready and search attributes registered?
      const sa = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      if (opts.searchAttributes === false || Object.keys(SEARCH_ATTRIBUTE_TYPES).every((k) => k in (sa.customAttributes ?? {}))) break;
    } catch {
      // not up yet
    }
    await connection?.close().catch(() => undefined);
    connection = undefined;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`temporal dev server did not come up on ${address} within 90 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  const client = new Client({ connection, namespace: 'default' });
  const ready = connection as Connection;
  const killServer = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  };
  return {
    address,
    port,
    uiPort,
    dir,
    client,
    connection: ready,
    kill: killServer,
    restart: async () => {
      await killServer();
      proc = launch();
      const until = Date.now() + 90_000;
      for (;;) {
        if (proc.exitCode !== null) throw new Error(`temporal dev server exited with ${proc.exitCode} on restart: ${stderr}`);
        try {
          await ready.workflowService.getSystemInfo({});
          return;
        } catch {
          if (Date.now() > until) throw new Error(`temporal dev server did not come back on ${address} within 90 s: ${stderr}`);
          await new Promise((r) => setTimeout(r, 300));
        }
      }
    },
    stop: async () => {
      await connection?.close().catch(() => undefined);
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
