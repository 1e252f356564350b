// Hosts on one machine: each a Linux network namespace with its own address on a bridge, its link optionally shaped
// with tc (rate; delay and loss need sch_netem) and cuttable (link down/up), processes started inside it with their
// logs kept. Needs root (CAP_NET_ADMIN). Everything is named `<prefix>-...`, and create() first removes whatever a
// crashed run with the same prefix left behind; destroy() kills every process left in the namespaces and deletes
// namespaces, veths and bridge. Addresses come from 198.18.0.0/15 (RFC 2544 benchmarking: never routed anywhere).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface LinkShape {
  /** e.g. '1gbit', '10gbit', '100mbit' (tc units). */
  readonly rate?: string;
  /** One-way delay, e.g. '1ms' (needs sch_netem). */
  readonly delay?: string;
  /** Loss in percent (needs sch_netem). */
  readonly lossPercent?: number;
}

export interface NetHost {
  readonly name: string;
  /** The namespace, `<prefix>-<name>`. */
  readonly ns: string;
  readonly ip: string;
  /** The veth end on the bridge side (what cut() takes down). */
  readonly bridgePort: string;
}

export interface HostProcess {
  readonly host: string;
  readonly what: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines of its log, for failure messages. */
  tail(lines?: number): string;
  /** SIGTERM to its process group, SIGKILL after graceMs; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

async function ip(...args: string[]): Promise<string> {
  try {
    return (await execFileAsync('ip', args)).stdout;
  } catch (err) {
    throw new Error(`ip ${args.join(' ')} failed: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`);
  }
}

async function tc(ns: string | undefined, ...args: string[]): Promise<void> {
  const argv = ns ? ['netns', 'exec', ns, 'tc', ...args] : ['tc', ...args];
  try {
    await execFileAsync(ns ? 'ip' : 'tc', ns ? argv : args);
  } catch (err) {
    const msg = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim();
    if (/qdisc kind is unknown/.test(msg) && args.includes('netem')) {
      throw new Error(`link delay/loss needs the sch_netem qdisc, which this kernel lacks (${msg}); shape only the rate here`);
    }
    throw new Error(`tc ${args.join(' ')}${ns ? ` in ${ns}` : ''} failed: ${msg}`);
  }
}

/** Why namespace hosts cannot be made here (not root, no `ip`), or undefined when they can. */
export async function netnsUnavailable(prefix: string): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return `network-namespace hosts need root (CAP_NET_ADMIN); this runs as uid ${process.getuid?.()}: run the suite as root`;
  const probe = `${prefix}-probe`;
  try {
    await ip('netns', 'add', probe);
    await ip('netns', 'del', probe);
    return undefined;
  } catch (err) {
    return `cannot create a network namespace (${(err as Error).message}): run as root on Linux with iproute2`;
  }
}

/** Removes every namespace and link named `<prefix>-*` / `<prefix>br`, killing processes left in the namespaces. */
export async function removeLeftovers(prefix: string): Promise<void> {
  const names = (await ip('netns', 'list'))
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));
  for (const ns of names) {
    await killAllIn(ns);
    await ip('netns', 'del', ns).catch(() => undefined);
  }
  const links = (await ip('-o', 'link', 'show'))
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n === `${prefix}br` || n.startsWith(`${prefix}-`));
  for (const l of links) await ip('link', 'del', l).catch(() => undefined);
}

/** Pids of the processes in a namespace. */
export async function pidsIn(ns: string): Promise<number[]> {
  const out = await ip('netns', 'pids', ns).catch(() => '');
  return out
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

async function killAllIn(ns: string): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const pids = await pidsIn(ns);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, round < 10 ? 'SIGTERM' : 'SIGKILL');
      } catch {
        // gone
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A process's command line ('' when it is gone). */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

export interface NetworkOptions {
  /** Short unique name prefix (interface names are at most 15 characters): e.g. 'dcgcl'. */
  readonly prefix: string;
  /** The /24 inside 198.18.0.0/15, e.g. '198.19.42': the bridge is .1, hosts .2, .3, ... */
  readonly subnet: string;
  readonly hosts: readonly string[];
  /** Where process logs go. */
  readonly logDir: string;
}

export class Network {
  readonly hosts = new Map<string, NetHost>();
  readonly bridgeIp: string;
  private readonly processes: HostProcess[] = [];

  private constructor(private readonly o: NetworkOptions) {
    this.bridgeIp = `${o.subnet}.1`;
  }

  /** Builds the bridge and one namespace host per name (after removing a crashed run's leftovers). */
  static async create(o: NetworkOptions): Promise<Network> {
    if (!/^198\.(18|19)\.\d{1,3}$/.test(o.subnet)) throw new Error(`subnet ${o.subnet} is outside 198.18.0.0/15`);
    if (`${o.prefix}-${o.hosts.reduce((a, h) => (h.length > a.length ? h : a), '')}`.length > 15) {
      throw new Error(`prefix ${o.prefix} and host names make interface names longer than 15 characters`);
    }
    await removeLeftovers(o.prefix);
    const taken = (await ip('route', 'show', `${o.subnet}.0/24`)).trim();
    if (taken) throw new Error(`${o.subnet}.0/24 is already routed here (${taken}): pick another subnet`);
    mkdirSync(o.logDir, { recursive: true });
    const net = new Network(o);
    try {
      const br = `${o.prefix}br`;
      await ip('link', 'add', br, 'type', 'bridge');
      await ip('addr', 'add', `${net.bridgeIp}/24`, 'dev', br);
      await ip('link', 'set', br, 'up');
      let n = 2;
      for (const name of o.hosts) {
        const ns = `${o.prefix}-${name}`;
        const host: NetHost = { name, ns, ip: `${o.subnet}.${n++}`, bridgePort: ns };
        await ip('netns', 'add', ns);
        await ip('link', 'add', host.bridgePort, 'type', 'veth', 'peer', 'name', `${ns}p`, 'netns', ns);
        await ip('-n', ns, 'link', 'set', `${ns}p`, 'name', 'eth0');
        await ip('-n', ns, 'addr', 'add', `${host.ip}/24`, 'dev', 'eth0');
        await ip('-n', ns, 'link', 'set', 'eth0', 'up');
        await ip('-n', ns, 'link', 'set', 'lo', 'up');
        await ip('link', 'set', host.bridgePort, 'master', br);
        await ip('link', 'set', host.bridgePort, 'up');
        net.hosts.set(name, host);
      }
    } catch (err) {
      await net.destroy();
      throw err;
    }
    return net;
  }

  host(name: string): NetHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host ${name} (hosts: ${[...this.hosts.keys()].join(', ')})`);
    return h;
  }

  /** Shapes both directions of a host's link (egress of its eth0 and of its bridge port); replaces earlier shaping. */
  async shape(name: string, s: LinkShape): Promise<void> {
    const h = this.host(name);
    for (const [ns, dev] of [[h.ns, 'eth0'], [undefined, h.bridgePort]] as const) {
      await tc(ns, 'qdisc', 'del', 'dev', dev, 'root').catch(() => undefined);
      if (s.delay !== undefined || s.lossPercent !== undefined) {
        const args = ['qdisc', 'add', 'dev', dev, 'root', 'netem'];
        if (s.rate) args.push('rate', s.rate);
        if (s.delay) args.push('delay', s.delay);
        if (s.lossPercent !== undefined) args.push('loss', `${s.lossPercent}%`);
        await tc(ns, ...args);
      } else if (s.rate) {
        // a token bucket: burst of at least one timer tick's worth of bytes at the rate (4 ms, HZ 250)
        const bits = parseRate(s.rate);
        const burst = Math.max(64 * 1024, Math.ceil((bits / 8) * 0.004));
        await tc(ns, 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', s.rate, 'burst', String(burst), 'latency', '50ms');
      }
    }
  }

  /** Cuts a host off the bridge (its side stays up: packets simply go nowhere, as on a failed switch port). */
  async cut(name: string): Promise<void> {
    await ip('link', 'set', this.host(name).bridgePort, 'down');
  }

  async restore(name: string): Promise<void> {
    await ip('link', 'set', this.host(name).bridgePort, 'up');
  }

  /** Starts a process inside a host's namespace (own process group), its output in `<logDir>/<host>-<what>.log`. */
  start(name: string, what: string, argv: readonly string[], env: NodeJS.ProcessEnv = {}, cwd?: string): HostProcess {
    const h = this.host(name);
    const logFile = path.join(this.o.logDir, `${name}-${what}.log`);
    const fd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn('ip', ['netns', 'exec', h.ns, ...argv], { detached: true, stdio: ['pipe', fd, fd], env: { ...process.env, ...env }, cwd });
    } finally {
      closeSync(fd);
    }
    child.stdin?.on('error', () => undefined);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('error', () => resolve({ code: -1, signal: null }));
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    const tail = (lines = 25): string => {
      try {
        return readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
      } catch {
        return `(no log at ${logFile})`;
      }
    };
    const stop = async (graceMs = 10_000): Promise<void> => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      const pid = child.pid;
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
    };
    const p: HostProcess = { host: name, what, child, logFile, exited, tail, stop };
    this.processes.push(p);
    return p;
  }

  /** Runs a command inside a host's namespace to completion; its stdout. */
  async run(name: string, argv: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 300_000): Promise<string> {
    try {
      const { stdout } = await execFileAsync('ip', ['netns', 'exec', this.host(name).ns, ...argv], {
        env: { ...process.env, ...env },
        timeout: timeoutMs,
        maxBuffer: 16 << 20,
      });
      return stdout;
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`${argv.join(' ')} on ${name} failed: ${e.message}\n${(e.stderr ?? '').split('\n').slice(-20).join('\n')}`);
    }
  }

  /** Pids of the processes now running on a host whose command line matches. */
  async pids(name: string, match?: RegExp): Promise<number[]> {
    const pids = await pidsIn(this.host(name).ns);
    return match ? pids.filter((p) => match.test(cmdline(p))) : pids;
  }

  /** The last lines of every process log (for a failing test's message). */
  logs(lines = 15): string {
    const files = readdirSync(this.o.logDir).filter((f) => f.endsWith('.log'));
    return files.map((f) => `==> ${f} <==\n${readFileSync(path.join(this.o.logDir, f), 'utf8').split('\n').slice(-lines).join('\n')}`).join('\n');
  }

  /** Stops every process started here, kills anything left in the namespaces, deletes namespaces, veths and bridge. */
  async destroy(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop(5000).catch(() => undefined)));
    await removeLeftovers(this.o.prefix);
  }
}

/** tc rate text to bits/s. */
export function parseRate(rate: string): number {
  const m = /^(\d+(?:\.\d+)?)(k|m|g)?bit$/i.exec(rate);
  if (!m) throw new Error(`rate ${rate} is not like 1gbit or 100mbit`);
  const mult = { k: 1e3, m: 1e6, g: 1e9 }[(m[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  return Number(m[1]) * mult;
}

/** The namespace a process runs in (its /proc/<pid>/ns/net link), for checks that a process sits where it should. */
export function netnsOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return '';
  }
}
