// A dcign cluster on one machine, for integration tests: a `stack` host running `dcign dev up --host 0.0.0.0`
// (Temporal dev server + MLflow), N worker hosts each running `dcign worker` with its own address, run root, cache,
// spool and temp dirs and its own copy of the cluster key, plus optional bare hosts (say, a rogue one), every host a
// network namespace (./netns.ts). The test process reaches the servers over the bridge like any other host.
// Worker hosts can be stopped, started again, cut off and shaped; the stack's Temporal server can be restarted.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { Client, Connection } from '@temporalio/client';

import { projectRoot } from '../../src/stack/paths.js';
import { MLFLOW_BIN } from './mlflow.js';
import { Network, type HostProcess, type NetHost } from './netns.js';
import { TEMPORAL_BIN } from './temporal.js';

export const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');

export interface ClusterOptions {
  /** Unique name prefix of namespaces and links (leftovers with it are removed first), e.g. 'dcgcl'. */
  readonly prefix: string;
  /** A /24 in 198.18.0.0/15, e.g. '198.19.42'. */
  readonly subnet: string;
  readonly workers: number;
  readonly taskQueue: string;
  /** Training slots per worker (default 1, so a 2-replica trial spans two hosts). */
  readonly slots?: number;
  /** Hosts without a worker or key (e.g. 'rogue'). */
  readonly bareHosts?: readonly string[];
  /** Give workers the cluster key (default true). */
  readonly clusterKey?: boolean;
  /** `dcign worker --ring-timeout` in seconds. */
  readonly ringTimeoutSeconds?: number;
}

export interface StackInfo {
  readonly temporalAddress: string;
  readonly mlflowUri: string;
  /** What `dcign dev up` printed. */
  readonly upOutput: string;
}

export class Cluster {
  readonly workers = new Map<string, HostProcess>();
  stack!: StackInfo;
  connection: Connection | undefined;
  client!: Client;
  readonly keyFile: string;

  private constructor(
    readonly net: Network,
    readonly dir: string,
    readonly o: ClusterOptions,
  ) {
    this.keyFile = path.join(dir, 'cluster.key');
  }

  /** Worker host names: w1, w2, ... */
  get workerNames(): string[] {
    return Array.from({ length: this.o.workers }, (_, i) => `w${i + 1}`);
  }

  host(name: string): NetHost {
    return this.net.host(name);
  }

  /** A host's own directory (run root, cache, spool, temp). */
  hostDir(name: string): string {
    return path.join(this.dir, 'hosts', name);
  }

  runRoot(name: string): string {
    return path.join(this.hostDir(name), 'runs');
  }

  static async start(o: ClusterOptions): Promise<Cluster> {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
    const dir = mkdtempSync(path.join(tmpdir(), `dcign-cluster-${o.prefix}-`));
    const workerNames = Array.from({ length: o.workers }, (_, i) => `w${i + 1}`);
    const net = await Network.create({ prefix: o.prefix, subnet: o.subnet, hosts: ['stack', ...workerNames, ...(o.bareHosts ?? [])], logDir: path.join(dir, 'logs') });
    const cluster = new Cluster(net, dir, o);
    try {
      for (const h of net.hosts.keys()) for (const d of ['runs', 'cache', 'spool', 'tmp']) mkdirSync(path.join(cluster.hostDir(h), d), { recursive: true });
      await cluster.startStack();
      if (o.clusterKey !== false) {
        await net.run('stack', [process.execPath, CLI, 'cluster', 'keygen', '--out', cluster.keyFile]);
        // each host its own copy, as an operator would install it
        for (const w of workerNames) copyFileSync(cluster.keyFile, path.join(cluster.hostDir(w), 'cluster.key'));
      }
      await Promise.all(workerNames.map((w) => cluster.startWorker(w)));
    } catch (err) {
      const logs = net.logs(20);
      await cluster.destroy();
      throw new Error(`${(err as Error).message}\n${logs}`);
    }
    return cluster;
  }

  private stackEnv(): NodeJS.ProcessEnv {
    return { DCIGN_TEMPORAL_BIN: TEMPORAL_BIN, DCIGN_MLFLOW_BIN: MLFLOW_BIN, TMPDIR: path.join(this.hostDir('stack'), 'tmp') };
  }

  private get stateDir(): string {
    return path.join(this.hostDir('stack'), 'state');
  }

  /** `dcign dev up --host 0.0.0.0` on the stack host (reuses a server still running), then connects a client. */
  async startStack(): Promise<StackInfo> {
    const upOutput = await this.net.run('stack', [process.execPath, CLI, 'dev', 'up', '--host', '0.0.0.0', '--state-dir', this.stateDir], this.stackEnv());
    const ip = this.host('stack').ip;
    this.stack = { temporalAddress: `${ip}:7233`, mlflowUri: `http://${ip}:5000`, upOutput };
    if (!this.connection) {
      this.connection = await Connection.connect({ address: this.stack.temporalAddress });
      this.client = new Client({ connection: this.connection, namespace: 'default' });
    }
    return this.stack;
  }

  /** Stops the stack's Temporal server (SIGTERM, as a restart would) and starts it again on the same database. */
  async restartTemporal(): Promise<void> {
    const state = JSON.parse(readFileSync(path.join(this.stateDir, 'stack.json'), 'utf8')) as { services: { temporal?: { pid: number } } };
    const pid = state.services.temporal?.pid;
    if (pid === undefined) throw new Error('the stack records no Temporal server');
    process.kill(-pid, 'SIGTERM');
    for (let i = 0; i < 300 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) throw new Error(`Temporal server ${pid} did not stop within 30 s`);
    await this.startStack();
  }

  /** Starts `dcign worker` on a worker host; resolves once its pollers are on the task queue. */
  async startWorker(name: string): Promise<HostProcess> {
    const h = this.host(name);
    const d = this.hostDir(name);
    const key = path.join(d, 'cluster.key');
    const args = [process.execPath, CLI, 'worker', '--task-queue', this.o.taskQueue, '--address', this.stack.temporalAddress, '--slots', String(this.o.slots ?? 1)];
    args.push('--advertise-host', h.ip, '--run-root', this.runRoot(name));
    if (existsSync(key)) args.push('--cluster-key', key);
    if (this.o.ringTimeoutSeconds !== undefined) args.push('--ring-timeout', String(this.o.ringTimeoutSeconds));
    const p = this.net.start(name, 'worker', args, {
      MLFLOW_TRACKING_URI: this.stack.mlflowUri,
      DCIGN_CACHE: path.join(d, 'cache'),
      DCIGN_SPOOL_DIR: path.join(d, 'spool'),
      TMPDIR: path.join(d, 'tmp'),
    });
    this.workers.set(name, p);
    // ready once the start line is out (the workflow bundle is built) and the server lists one more poller
    const deadline = Date.now() + 180_000;
    for (;;) {
      if (p.child.exitCode !== null) throw new Error(`worker on ${name} exited with ${p.child.exitCode}:\n${p.tail()}`);
      if (readFileSync(p.logFile, 'utf8').includes('"advertiseHost"')) break;
      if (Date.now() > deadline) throw new Error(`worker on ${name} did not start within 180 s:\n${p.tail()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    return p;
  }

  async stopWorker(name: string): Promise<void> {
    await this.workers.get(name)?.stop(15_000);
    this.workers.delete(name);
  }

  /** Every host's log tails, for failure messages. */
  logs(lines = 15): string {
    return this.net.logs(lines);
  }

  async destroy(): Promise<void> {
    await this.connection?.close().catch(() => undefined);
    await Promise.all([...this.workers.values()].map((w) => w.stop(5000).catch(() => undefined)));
    await this.net.run('stack', [process.execPath, CLI, 'dev', 'down', '--state-dir', this.stateDir], this.stackEnv(), 60_000).catch(() => undefined);
    await this.net.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
