// The soak's own stack: a Temporal dev server and an MLflow server on free ports (never the dev stack's or another
// run's), and N `dcign worker` processes (the real CLI, so they can be SIGKILLed), each on a host of its own: a network
// namespace on a bridge when this runs as root (its link can be cut), else a plain process on loopback.
// Every process it starts has the soak's directory in its command line, so teardown can prove none is left.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

import { CLI } from '../helpers/cluster.js';
import { startMlflowServer, type MlflowServer } from '../helpers/mlflow.js';
import { Network, cmdline, netnsUnavailable } from '../helpers/netns.js';
import { startTemporal, type TemporalTestServer } from '../helpers/temporal.js';

export const PREFIX = 'dcgsk';
const SUBNET = '198.19.57';

export interface WorkerProc {
  readonly host: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** The nth process started on this host (replacements count up). */
  readonly incarnation: number;
}

export interface StackOptions {
  readonly dir: string;
  readonly workers: number;
  readonly slots: number;
  readonly taskQueue: string;
  /** Use network-namespace hosts when possible (default true). */
  readonly netns?: boolean;
  readonly log: (line: string) => void;
}

export class SoakStack {
  readonly workers = new Map<string, WorkerProc>();
  /** Every worker pid this stack started, for the orphan check. */
  readonly workerPids: number[] = [];
  private incarnations = new Map<string, number>();

  private constructor(
    readonly o: StackOptions,
    readonly temporal: TemporalTestServer,
    readonly mlflow: MlflowServer,
    readonly net: Network | undefined,
    /** Why the hosts are loopback processes, when they are. */
    readonly loopbackReason: string | undefined,
  ) {}

  get hostNames(): string[] {
    return Array.from({ length: this.o.workers }, (_, i) => `w${i + 1}`);
  }

  /** The address workers dial for Temporal. */
  get workerTemporalAddress(): string {
    return this.net ? `${this.net.bridgeIp}:${this.temporal.port}` : this.temporal.address;
  }

  hostIp(host: string): string {
    return this.net ? this.net.host(host).ip : '127.0.0.1';
  }

  hostDir(host: string): string {
    return path.join(this.o.dir, 'hosts', host);
  }

  static async start(o: StackOptions): Promise<SoakStack> {
    const why = o.netns === false ? 'namespace hosts turned off (--no-netns)' : await netnsUnavailable(PREFIX);
    let net: Network | undefined;
    if (why === undefined) {
      const hosts = Array.from({ length: o.workers }, (_, i) => `w${i + 1}`);
      net = await Network.create({ prefix: PREFIX, subnet: SUBNET, hosts, logDir: path.join(o.dir, 'logs') });
    }
    let temporal: TemporalTestServer | undefined;
    let mlflow: MlflowServer | undefined;
    try {
      mkdirSync(path.join(o.dir, 'mlflow'), { recursive: true });
      [temporal, mlflow] = await Promise.all([
        startTemporal(net ? { ip: '0.0.0.0' } : {}),
        startMlflowServer({ dir: path.join(o.dir, 'mlflow'), ...(net ? { host: net.bridgeIp } : {}) }),
      ]);
    } catch (err) {
      await temporal?.stop().catch(() => undefined);
      await mlflow?.stop().catch(() => undefined);
      await net?.destroy().catch(() => undefined);
      throw err;
    }
    const stack = new SoakStack(o, temporal, mlflow, net, why);
    o.log(`stack: Temporal ${temporal.address} (workers dial ${stack.workerTemporalAddress}), MLflow ${mlflow.uri}, ${net ? `${o.workers} namespace hosts on ${SUBNET}.0/24` : `${o.workers} loopback workers (${why})`}`);
    return stack;
  }

  /** Starts `dcign worker` on a host; resolves once it printed its start line (bundle built, polling). */
  async startWorker(host: string): Promise<WorkerProc> {
    const d = this.hostDir(host);
    for (const sub of ['runs', 'spool', 'tmp']) mkdirSync(path.join(d, sub), { recursive: true });
    const n = (this.incarnations.get(host) ?? 0) + 1;
    this.incarnations.set(host, n);
    const argv = [process.execPath, CLI, 'worker', '--task-queue', this.o.taskQueue, '--slots', String(this.o.slots), '--address', this.workerTemporalAddress];
    argv.push('--advertise-host', this.hostIp(host), '--run-root', path.join(d, 'runs'));
    const env = { ...process.env, MLFLOW_TRACKING_URI: this.mlflow.uri, DCIGN_SPOOL_DIR: path.join(d, 'spool'), TMPDIR: path.join(d, 'tmp') };
    const logFile = path.join(this.o.dir, 'logs', `${host}-worker-${n}.log`);
    mkdirSync(path.dirname(logFile), { recursive: true });
    let child: ChildProcess;
    if (this.net) {
      child = this.net.start(host, `worker-${n}`, argv, env).child;
    } else {
      const fd = openSync(logFile, 'a');
      try {
        child = spawn(argv[0] as string, argv.slice(1), { detached: true, stdio: ['pipe', fd, fd], env });
      } finally {
        closeSync(fd);
      }
      child.stdin?.on('error', () => undefined);
    }
    const w: WorkerProc = { host, child, logFile, incarnation: n };
    this.workers.set(host, w);
    if (child.pid !== undefined) this.workerPids.push(child.pid);
    const deadline = Date.now() + 240_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`worker on ${host} exited (${child.exitCode ?? child.signalCode}):\n${tail(logFile)}`);
      if (readText(logFile).includes('"advertiseHost"')) return w;
      if (Date.now() > deadline) throw new Error(`worker on ${host} did not start within 240 s:\n${tail(logFile)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** SIGKILLs a host's worker process alone (as a crash would); its replicas see their stdin close and stop. */
  async killWorker(host: string): Promise<number | undefined> {
    const w = this.workers.get(host);
    const pid = w?.child.pid;
    if (w === undefined || pid === undefined || w.child.exitCode !== null || w.child.signalCode !== null) return undefined;
    const exited = new Promise((r) => w.child.once('exit', r));
    process.kill(pid, 'SIGKILL');
    await exited;
    this.workers.delete(host);
    return pid;
  }

  /** Replica processes of this soak now alive (every one has a config under the soak's run roots). */
  replicaPids(): number[] {
    return processesMatching((cmd) => cmd.includes('replica-child.js') && cmd.includes(this.o.dir)).sort((a, b) => a - b);
  }

  /** Which host a replica runs on (from its config path). */
  hostOf(pid: number): string | undefined {
    const m = new RegExp(`${escape(path.join(this.o.dir, 'hosts'))}/([^/]+)/`).exec(cmdline(pid));
    return m?.[1];
  }

  /** The TCP ports a process listens on, as ip:port (inside its namespace when on one). */
  async listening(pid: number): Promise<{ ip: string; port: number }[]> {
    const host = this.hostOf(pid);
    const argv = this.net && host ? ['ip', 'netns', 'exec', this.net.host(host).ns, 'ss', '-ltnpH'] : ['ss', '-ltnpH'];
    const out = await run(argv);
    const res: { ip: string; port: number }[] = [];
    for (const line of out.split('\n')) {
      if (!line.includes(`pid=${pid},`)) continue;
      const local = line.trim().split(/\s+/)[3] ?? '';
      const m = /^(.*):(\d+)$/.exec(local);
      if (m) res.push({ ip: (m[1] ?? '').replace(/^\[|\]$/g, '').replace('*', '0.0.0.0'), port: Number(m[2]) });
    }
    return res;
  }

  /** Listening TCP sockets left on each host (namespace mode), for the leaked-port check. */
  async listeningOnHosts(): Promise<string[]> {
    if (!this.net) return [];
    const out: string[] = [];
    for (const h of this.hostNames) {
      const text = await run(['ip', 'netns', 'exec', this.net.host(h).ns, 'ss', '-ltnH']).catch((e: Error) => `error ${e.message}`);
      for (const l of text.split('\n').filter((x) => x.trim() !== '')) out.push(`${h}: ${l.trim().split(/\s+/)[3] ?? l}`);
    }
    return out;
  }

  /** Stops every worker (SIGTERM to its group, SIGKILL after graceMs) and the servers; keeps the namespaces. */
  async stopAll(graceMs = 15_000): Promise<void> {
    await Promise.all(
      [...this.workers.values()].map(async (w) => {
        const pid = w.child.pid;
        if (pid === undefined || w.child.exitCode !== null || w.child.signalCode !== null) return;
        const exited = new Promise((r) => w.child.once('exit', r));
        const signal = (s: NodeJS.Signals): void => {
          try {
            process.kill(-pid, s);
          } catch {
            // gone
          }
        };
        signal('SIGTERM');
        const hard = setTimeout(() => signal('SIGKILL'), graceMs);
        await exited;
        clearTimeout(hard);
      }),
    );
    this.workers.clear();
    // a replica outlives its worker by at most its own shutdown (stdin closed): wait for them, SIGKILL stragglers
    const until = Date.now() + graceMs;
    while (this.replicaPids().length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
    await this.temporal.stop().catch(() => undefined);
    await this.mlflow.stop().catch(() => undefined);
  }

  /** Removes the namespaces and bridge (killing anything left in them). */
  async destroyNetwork(): Promise<void> {
    await this.net?.destroy();
  }
}

export function processesMatching(match: (cmd: string) => boolean): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    const cmd = cmdline(Number(d));
    if (cmd !== '' && match(cmd)) out.push(Number(d));
  }
  return out;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export function tail(file: string, lines = 25): string {
  return readText(file).split('\n').slice(-lines).join('\n');
}

function run(argv: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')}: exit ${code}: ${err.trim()}`))));
  });
}
