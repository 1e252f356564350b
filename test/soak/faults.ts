// Injects one scheduled fault into the soak's stack and says what it hit. A fault with nothing to hit (no replica is
// running at that moment) is recorded as skipped, not as injected, so the table never claims what did not happen.
import net from 'node:net';

import { Rng } from '../../src/random.js';
import type { FaultEvent } from './schedule.js';
import type { SoakStack } from './stack.js';

export interface FaultOutcome {
  readonly event: FaultEvent;
  /** Seconds after the stack was up, when it was injected. */
  readonly startedAt: number;
  readonly injected: boolean;
  /** What it hit, or why it was skipped. */
  readonly detail: string;
  /** Ring ports seen while injecting (for the leaked-port check). */
  readonly ports?: readonly { ip: string; port: number }[];
}

const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, s * 1000));

function choose<T>(items: readonly T[], pick: number): T | undefined {
  return items.length === 0 ? undefined : items[Math.min(items.length - 1, Math.floor(pick * items.length))];
}

/** Sends bytes to a port and closes; resolves whether or not the other side answers. */
function strangerWrite(ip: string, port: number, data: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: ip, port });
    const done = (what: string): void => {
      s.destroy();
      resolve(what);
    };
    s.setTimeout(3000, () => done('timeout'));
    s.once('error', (e) => done(`error ${e.message}`));
    s.once('connect', () => s.write(data, () => setTimeout(() => done('sent'), 200)));
  });
}

export async function injectFault(stack: SoakStack, e: FaultEvent, startedAt: number, log: (l: string) => void): Promise<FaultOutcome> {
  const out = (injected: boolean, detail: string, ports?: { ip: string; port: number }[]): FaultOutcome => ({ event: e, startedAt, injected, detail, ...(ports ? { ports } : {}) });
  switch (e.kind) {
    case 'kill-replica': {
      const pid = choose(stack.replicaPids(), e.pick);
      if (pid === undefined) return out(false, 'no replica running');
      const host = stack.hostOf(pid);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        return out(false, `replica ${pid} exited before the kill`);
      }
      return out(true, `replica pid ${pid} on ${host}`);
    }
    case 'kill-worker': {
      const host = choose(stack.hostNames, e.pick) as string;
      const pid = await stack.killWorker(host);
      if (pid === undefined) return out(false, `no worker alive on ${host}`);
      log(`  worker ${pid} on ${host} SIGKILLed; a replacement in ${e.seconds} s`);
      await sleep(e.seconds);
      const w = await stack.startWorker(host);
      return out(true, `worker pid ${pid} on ${host}, replaced by ${w.child.pid} after ${e.seconds} s`);
    }
    case 'temporal-short':
    case 'temporal-long': {
      await stack.temporal.kill();
      await sleep(e.seconds);
      const t0 = Date.now();
      await stack.temporal.restart();
      return out(true, `down ${e.seconds} s (+${((Date.now() - t0) / 1000).toFixed(1)} s to answer again)`);
    }
    case 'mlflow-restart': {
      await stack.mlflow.stop();
      await sleep(e.seconds);
      const t0 = Date.now();
      await stack.mlflow.start();
      return out(true, `down ${e.seconds} s (+${((Date.now() - t0) / 1000).toFixed(1)} s to come up)`);
    }
    case 'cut-link': {
      if (!stack.net) return out(false, 'loopback hosts: no link to cut');
      const host = choose(stack.hostNames, e.pick) as string;
      await stack.net.cut(host);
      try {
        await sleep(e.seconds);
      } finally {
        await stack.net.restore(host);
      }
      return out(true, `${host} cut for ${e.seconds} s`);
    }
    case 'stranger-bytes': {
      const pid = choose(stack.replicaPids(), e.pick);
      if (pid === undefined) return out(false, 'no replica running');
      const ports = (await stack.listening(pid).catch(() => [])).map((p) => ({ ip: p.ip === '0.0.0.0' ? stack.hostIp(stack.hostOf(pid) ?? '') : p.ip, port: p.port }));
      if (ports.length === 0) return out(false, `replica ${pid} listens on no TCP port yet`);
      // the bytes are drawn from the seed too, so a replay sends the same garbage
      const rng = new Rng(Math.floor(e.pick * 2 ** 32));
      const data = Buffer.from(Array.from({ length: e.bytes }, () => rng.int(256)));
      const results = await Promise.all(ports.map((p) => strangerWrite(p.ip, p.port, data)));
      return out(true, `${e.bytes} bytes to replica ${pid} on ${stack.hostOf(pid)} at ${ports.map((p, i) => `${p.ip}:${p.port} (${results[i]})`).join(', ')}`, ports);
    }
  }
}
