// `npm run soak -- --seed S --minutes M`: a seeded chaos run on a stack of its own (./stack.ts). It prints the fault
// schedule drawn from the seed (./schedule.ts), runs sweeps of real replicas (./sweeps.ts) while injecting the faults
// (./faults.ts), checks the invariants from the servers' records (./invariants.ts), tears everything down (also on
// failure or a signal), prints the tables (./table.ts) and exits 1 if any invariant was violated (2 if the soak itself
// could not run). See docs/durability.md, "The soak".
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { bundle } from '../helpers/sweep-fixture.js';
import { injectFault, type FaultOutcome } from './faults.js';
import { historiesReplay, metricsAndCheckpoints, noLeakedPorts, noOrphans, workflowsEnded, type InvariantResult } from './invariants.js';
import { drawSchedule, formatSchedule } from './schedule.js';
import { PREFIX, SoakStack, processesMatching } from './stack.js';
import { runWorkload, type SweepRecord, type WorkloadOptions } from './sweeps.js';
import { faultTable, invariantTable } from './table.js';
import { cmdline, netnsUnavailable } from '../helpers/netns.js';

export interface SoakArgs {
  seed: number;
  minutes: number;
  workers: number;
  steps: number;
  netns: boolean;
  keep: boolean;
}

const USAGE = 'usage: npm run soak -- [--seed N (default 1)] [--minutes M (default 10)] [--workers 2|3 (default 3)] [--steps N (default 200)] [--no-netns] [--keep]';

/** Parses the flags; a bad value is an error naming the flag and what it takes, before anything starts. */
export function parseArgs(argv: readonly string[]): SoakArgs {
  const a: SoakArgs = { seed: 1, minutes: 10, workers: 3, steps: 200, netns: true, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = (): number => {
      const v = argv[++i];
      const n = Number(v);
      if (v === undefined || v.trim() === '' || !Number.isFinite(n)) throw new Error(`${flag} takes a number; got ${v === undefined ? 'nothing' : JSON.stringify(v)}\n${USAGE}`);
      return n;
    };
    if (flag === '--seed') {
      a.seed = value();
      if (!(Number.isInteger(a.seed) && a.seed >= 0 && a.seed < 2 ** 32)) throw new Error(`--seed must be an integer in 0..2^32-1; got ${a.seed}`);
    } else if (flag === '--minutes') {
      a.minutes = value();
      if (!(a.minutes >= 1 && a.minutes <= 240)) throw new Error(`--minutes must be between 1 and 240; got ${a.minutes}`);
    } else if (flag === '--workers') {
      a.workers = value();
      if (![2, 3].includes(a.workers)) throw new Error(`--workers must be 2 or 3 (3-replica trials need 3 hosts with 2 slots, or 2 hosts); got ${a.workers}`);
    } else if (flag === '--steps') {
      a.steps = value();
      if (!(Number.isInteger(a.steps) && a.steps >= 40 && a.steps % 20 === 0)) throw new Error(`--steps must be an integer >= 40 and a multiple of 20 (the checkpoint interval); got ${a.steps}`);
    } else if (flag === '--no-netns') a.netns = false;
    else if (flag === '--keep') a.keep = true;
    else if (flag === '--help' || flag === '-h') throw new Error(USAGE);
    else throw new Error(`unknown flag ${flag}\n${USAGE}`);
  }
  return a;
}

const HEARTBEAT_SECONDS = 40;
const RAN = 'the soak ran to its end';
const QUEUE = 'soak';

export async function soak(args: SoakArgs): Promise<number> {
  const began = Date.now();
  const log = (l: string): void => console.log(`[soak t+${((Date.now() - began) / 1000).toFixed(0).padStart(4)} s] ${l}`);
  // the schedule depends on whether links can be cut: decide that first, so the printed schedule is the one run
  const netns = args.netns && (await netnsUnavailable(PREFIX)) === undefined;
  const schedule = drawSchedule({ seed: args.seed, minutes: args.minutes, heartbeatSeconds: HEARTBEAT_SECONDS, netns });
  console.log(`soak: seed ${args.seed}, ${args.minutes} min, ${args.workers} workers x 2 slots on ${netns ? 'network-namespace hosts' : 'loopback'}, ${args.steps} steps per trial, heartbeat timeout ${HEARTBEAT_SECONDS} s`);
  console.log(`fault schedule (${schedule.length} faults; the same seed draws the same schedule):\n${formatSchedule(schedule)}`);

  const dir = mkdtempSync(path.join(tmpdir(), 'dcign-soak-'));
  let stack: SoakStack | undefined;
  let stopping = false;
  let tornDown: Promise<InvariantResult[]> | undefined;
  const ringPorts = new Map<string, { ip: string; port: number }>();
  const seenPids = new Set<number>();

  const teardown = (): Promise<InvariantResult[]> => {
    tornDown ??= (async () => {
      if (!stack) return [];
      const s = stack;
      await s.stopAll();
      const temporalDir = s.temporal.dir;
      // every process whose command line names the soak's directories (workers, replicas, MLflow) or Temporal's db
      const left = processesMatching((c) => c.includes(dir) || c.includes(temporalDir));
      for (const pid of s.workerPids) if (!left.includes(pid) && cmdline(pid) !== '' && cmdline(pid).includes(dir)) left.push(pid);
      for (const p of [...left, ...s.workerPids]) seenPids.add(p);
      const orphans = noOrphans(left.map((pid) => ({ pid, cmd: cmdline(pid) })), seenPids.size);
      const ports = [
        { port: s.temporal.port, what: 'Temporal frontend' },
        { port: s.temporal.uiPort, what: 'Temporal UI' },
        { port: s.mlflow.port, what: 'MLflow' },
        ...(s.net ? [] : [...ringPorts.values()].map((p) => ({ port: p.port, what: `ring ${p.ip}` }))),
      ];
      const leaked = await noLeakedPorts(ports, await s.listeningOnHosts());
      // leftovers go with the namespaces (this kills what the checks above reported, so they are done first)
      await s.destroyNetwork().catch((e: Error) => log(`network teardown: ${e.message}`));
      return [orphans, leaked];
    })();
    return tornDown;
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: tearing down`);
    void teardown().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const outcomes: FaultOutcome[] = [];
  const results: InvariantResult[] = [];
  let records: SweepRecord[] = [];
  try {
    const [s, code] = await Promise.all([SoakStack.start({ dir, workers: args.workers, slots: 2, taskQueue: QUEUE, netns, log }), bundle()]);
    stack = s;
    await Promise.all(s.hostNames.map((h) => s.startWorker(h)));
    log(`workers up: ${[...s.workers.values()].map((w) => `${w.host} pid ${w.child.pid}`).join(', ')}`);
    const t0 = Date.now();
    const until = t0 + args.minutes * 60_000;
    const drainUntil = until + 10 * 60_000;

    const faults = (async () => {
      for (const e of schedule) {
        const wait = t0 + e.at * 1000 - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (stopping) return;
        const at = Math.round((Date.now() - t0) / 1000);
        log(`fault ${e.kind}${e.seconds > 0 ? ` (${e.seconds} s)` : ''}`);
        try {
          const o = await injectFault(s, e, at, log);
          outcomes.push(o);
          for (const p of o.ports ?? []) ringPorts.set(`${p.ip}:${p.port}`, p);
          log(`  ${o.injected ? 'injected' : 'skipped'}: ${o.detail}`);
        } catch (err) {
          outcomes.push({ event: e, startedAt: at, injected: false, detail: `injection failed: ${(err as Error).message.split('\n')[0]}` });
          log(`  injection failed: ${(err as Error).message}`);
        }
      }
    })();
    // ring ports and replica pids, sampled, for the leaked-port and orphan checks
    const sampler = setInterval(() => {
      for (const pid of s.replicaPids()) {
        seenPids.add(pid);
        void s.listening(pid).then((ps) => ps.forEach((p) => ringPorts.set(`${p.ip}:${p.port}`, p)), () => undefined);
      }
    }, 10_000);

    const workload: WorkloadOptions = { seed: args.seed, taskQueue: QUEUE, steps: args.steps, logEvery: 5, checkpointEvery: 20, heartbeatSeconds: HEARTBEAT_SECONDS };
    try {
      records = await runWorkload(s.temporal.client, workload, until, drainUntil, log, () => stopping);
      await faults;
    } finally {
      clearInterval(sampler);
    }
    log(`workload done: ${records.length} sweeps; checking the servers' records`);
    results.push(await workflowsEnded(s.temporal.client, records));
    const m = await metricsAndCheckpoints(s.mlflow.uri, records);
    results.push(m.once, m.checkpoints);
    results.push(await historiesReplay(s.temporal.client, code));
  } catch (err) {
    console.error(`soak could not run to the end: ${(err as Error).stack ?? String(err)}`);
    results.push({ name: RAN, checked: 1, unit: 'run', violations: [(err as Error).message.split('\n')[0] ?? String(err)] });
  } finally {
    results.push(...(await teardown()));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const violated = results.filter((r) => r.violations.length > 0);
  console.log(`\nfaults (seed ${args.seed}, ${args.minutes} min, ${records.length} sweeps, ${records.reduce((n, r) => n + (r.result?.trials.length ?? 0), 0)} trials):\n${faultTable(outcomes)}`);
  console.log(`\ninvariants:\n${invariantTable(results)}`);
  for (const r of violated) console.log(`\n${r.name}: ${r.violations.length} violations\n  ${r.violations.slice(0, 20).join('\n  ')}`);
  if (args.keep || violated.length > 0) console.log(`\nlogs and MLflow store kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  if (results.some((r) => r.name === RAN && r.violations.length > 0)) return 2;
  return violated.length > 0 ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let args: SoakArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  soak(args).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(2);
    },
  );
}
