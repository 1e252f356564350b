// `dcign dev up | down | status | logs`: the embedded stack, started as detached processes whose pids are recorded, so
// `down` stops exactly what `up` started and nothing else. Services start in waves: those that need nothing first,
// then each one once the services it needs are healthy (MLflow after its PostgreSQL and S3 store); `down` stops
// them in the reverse order.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { portIsFree } from './ports.js';
import { serviceSpecs, type ServiceName, type ServiceSpec, type StackOptions } from './services.js';
import { clearStackState, readStackState as readState, writeStackState as writeState, type ServiceRecord } from './state.js';

export interface ServiceStatus {
  readonly name: ServiceName;
  readonly running: boolean;
  readonly healthy: boolean;
  readonly pid?: number;
  /** Absent when no stack is recorded: we do not know where it would be, and defaults would mislead. */
  readonly url?: string;
  readonly logFile: string;
}

/** True when pid is alive and still runs the binary we started (pids are reused). */
function ours(record: ServiceRecord | undefined): record is ServiceRecord {
  if (!record) return false;
  try {
    process.kill(record.pid, 0);
    const cmdline = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8');
    return cmdline.includes(record.binary) || cmdline.includes(record.binary.split('/').pop() ?? '\0');
  } catch {
    return false;
  }
}

export interface UpResult {
  readonly started: ServiceName[];
  readonly reused: ServiceName[];
  readonly statuses: ServiceStatus[];
}

export async function stackUp(
  options: StackOptions,
  progress: (msg: string) => void = () => undefined,
  timeoutMs = 180_000,
): Promise<UpResult> {
  mkdirSync(join(options.stateDir, 'logs'), { recursive: true });
  mkdirSync(join(options.stateDir, 'temporal'), { recursive: true });
  mkdirSync(join(options.stateDir, 'mlflow', 'artifacts'), { recursive: true });
  const previous = readState(options.stateDir);
  const specs = serviceSpecs(options);
  const services: Partial<Record<ServiceName, ServiceRecord>> = {};
  const started: ServiceName[] = [];
  const reused: ServiceName[] = [];
  const alreadyUp = previous ? Object.values(previous.services).some((r) => ours(r)) : false;
  if (previous && alreadyUp) {
    // Reusing servers on other ports would record ports nobody listens on, and every link would be wrong.
    const was = previous.options;
    const changed = (['profile', 'host', 'temporalPort', 'temporalUiPort', 'mlflowPort', 'postgresPort', 's3Port'] as const).filter(
      (k) => was[k] !== options[k],
    );
    if (changed.length > 0) {
      throw new Error(
        `the local stack is already running with ${changed.map((k) => `${k} ${String(was[k])}`).join(', ')} ` +
          `(asked for ${changed.map((k) => String(options[k])).join(', ')}). Use it as it is, or \`dcign dev down\` first to restart it on other ports.`,
      );
    }
  }

  for (const spec of specs) {
    const record = previous?.services[spec.name];
    if (ours(record)) {
      // Started by an earlier `up` and still alive: reuse it (its health is awaited below like a fresh one's).
      services[spec.name] = record;
      reused.push(spec.name);
      progress(`${spec.name} already running (pid ${record.pid})`);
      continue;
    }
    if (!existsSync(spec.binary)) {
      throw new Error(`${spec.name} is not installed at ${spec.binary}. Fix: ${spec.installHint ?? 'run `npm run setup` (scripts/setup.sh)'}.`);
    }
    for (const p of spec.ports) {
      if (!(await portIsFree(p.port, p.host))) {
        throw new Error(
          `port ${p.port} (${p.what}) is already in use by another process. ` +
            `Stop that process or choose another port with ${p.flag} <port>.`,
        );
      }
    }
  }

  try {
    const deadline = Date.now() + timeoutMs;
    const ready = new Set<ServiceName>();
    while (ready.size < specs.length) {
      const wave = specs.filter((spec) => !ready.has(spec.name) && (spec.needs ?? []).every((n) => ready.has(n)));
      if (wave.length === 0) throw new Error(`services wait on each other: ${specs.filter((s) => !ready.has(s.name)).map((s) => s.name).join(', ')}`);
      for (const spec of wave) {
        if (services[spec.name]) continue;
        await spec.prepare?.();
        progress(`starting ${spec.name}: ${[...(spec.launcher ?? []), spec.binary, ...spec.args].join(' ')}`);
        services[spec.name] = launch(spec);
        started.push(spec.name);
        writeState(options.stateDir, { options, services });
      }
      for (const spec of wave) {
        const record = services[spec.name] as ServiceRecord;
        while (!(await spec.healthy())) {
          if (!ours(record)) {
            throw new Error(`${spec.name} exited during start-up. Its log ${spec.logFile} ends with:\n${tail(spec.logFile, 15)}`);
          }
          if (Date.now() > deadline) {
            throw new Error(`${spec.name} did not answer its health check within ${timeoutMs / 1000} s; see ${spec.logFile}`);
          }
          await sleep(500);
        }
        await spec.initialise?.();
        ready.add(spec.name);
        progress(`${spec.name} healthy at ${spec.url}`);
      }
    }
  } catch (err) {
    // Leave nothing half-started: stop what this call launched, the last started first.
    for (const name of [...started].reverse()) await stop(services[name]);
    if (reused.length === 0) clearStackState(options.stateDir);
    else writeState(options.stateDir, { options, services: Object.fromEntries(reused.map((n) => [n, services[n]])) });
    throw err;
  }
  return { started, reused, statuses: await stackStatus(options) };
}

function launch(spec: ServiceSpec): ServiceRecord {
  const fd = openSync(spec.logFile, 'a');
  try {
    const [cmd, ...pre] = [...(spec.launcher ?? []), spec.binary] as string[] as [string, ...string[]];
    const child = spawn(cmd, [...pre, ...spec.args], {
      detached: true,
      stdio: ['ignore', fd, fd],
      ...(spec.env ? { env: { ...process.env, ...spec.env } } : {}),
    });
    if (child.pid === undefined) throw new Error(`could not start ${spec.binary}`);
    child.unref();
    return {
      pid: child.pid,
      binary: spec.binary,
      startedAt: new Date().toISOString(),
      url: spec.url,
      logFile: spec.logFile,
      ...(spec.stopSignal ? { stopSignal: spec.stopSignal } : {}),
      ...(spec.signalGroup === false ? { signalGroup: false } : {}),
    };
  } finally {
    closeSync(fd);
  }
}

async function stop(record: ServiceRecord | undefined): Promise<boolean> {
  if (!ours(record)) return false;
  const signal = (sig: NodeJS.Signals) => {
    try {
      if (record.signalGroup === false) process.kill(record.pid, sig);
      else process.kill(-record.pid, sig); // the whole process group: MLflow's workers too
    } catch {
      try {
        process.kill(record.pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal(record.stopSignal ?? 'SIGTERM');
  for (let i = 0; i < 100 && alive(record.pid); i++) await sleep(100);
  if (alive(record.pid)) {
    try {
      process.kill(-record.pid, 'SIGKILL'); // stuck: the whole group, children included
    } catch {
      signal('SIGKILL');
    }
  }
  for (let i = 0; i < 50 && alive(record.pid); i++) await sleep(100);
  return true;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function stackDown(stateDir: string): Promise<ServiceName[]> {
  const state = readState(stateDir);
  if (!state) return [];
  const stopped: ServiceName[] = [];
  // The reverse of the start order (MLflow before the stores it writes to); reported in the start order.
  for (const [name, record] of (Object.entries(state.services) as [ServiceName, ServiceRecord][]).reverse()) {
    if (await stop(record)) stopped.unshift(name);
  }
  clearStackState(stateDir);
  return stopped;
}

/** Per server: recorded and alive, healthy. With nothing recorded (never up, or down) both are down, unprobed. */
export async function stackStatus(options: StackOptions): Promise<ServiceStatus[]> {
  const state = readState(options.stateDir);
  const specs = serviceSpecs(state?.options ?? options);
  if (!state) return specs.map((spec) => ({ name: spec.name, running: false, healthy: false, logFile: spec.logFile }));
  return Promise.all(
    specs.map(async (spec) => {
      const record = state?.services[spec.name];
      const running = ours(record);
      return {
        name: spec.name,
        running,
        healthy: await spec.healthy(),
        ...(running ? { pid: record.pid } : {}),
        url: spec.url,
        logFile: spec.logFile,
      };
    }),
  );
}

export function tail(file: string, lines: number): string {
  if (!existsSync(file)) return `(no log at ${file})`;
  return readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
