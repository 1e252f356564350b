// Rendezvous: how a replica learns its rank, the group's size and generation and every peer's endpoint.
// The static one is a fixed list (tests, `dcign train --replicas R` on one machine, hand-written multi-host setups);
// the Temporal-backed one (the trial workflow as the store, like torchrun's c10d rendezvous) implements the same
// interface in the orchestration layer.
import { createServer } from 'node:net';

import type { Rendezvous, RendezvousResult } from './types.js';

export interface StaticRendezvousConfig {
  /** ZeroMQ endpoint of every rank, by rank, e.g. tcp://127.0.0.1:41001. */
  readonly endpoints: readonly string[];
  readonly rank: number;
  readonly groupId: string;
  readonly generation?: number;
}

const ENDPOINT = /^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[^:/\s]+):(\d{1,5})$/;

/** Host and port of a tcp:// endpoint; throws with the offending text otherwise. */
export function parseEndpoint(endpoint: string): { host: string; port: number } {
  const m = ENDPOINT.exec(endpoint);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port > 0 && port < 65536)) {
    throw new Error(`bad endpoint ${JSON.stringify(endpoint)}: expected tcp://HOST:PORT with a port in 1..65535`);
  }
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
}

export class StaticRendezvous implements Rendezvous {
  private readonly result: RendezvousResult;

  constructor(cfg: StaticRendezvousConfig) {
    const { endpoints, rank, groupId } = cfg;
    if (endpoints.length < 1) throw new Error('static rendezvous needs at least one endpoint');
    if (!Number.isInteger(rank) || rank < 0 || rank >= endpoints.length) {
      throw new Error(`static rendezvous: rank ${rank} is outside 0..${endpoints.length - 1}`);
    }
    if (!groupId) throw new Error('static rendezvous needs a groupId (e.g. the trial id)');
    endpoints.forEach(parseEndpoint);
    if (new Set(endpoints).size !== endpoints.length) throw new Error(`static rendezvous: duplicate endpoints in ${endpoints.join(', ')}`);
    this.result = { rank, worldSize: endpoints.length, generation: cfg.generation ?? 0, peers: [...endpoints], groupId };
  }

  /** The endpoint this rank must bind (its entry in the list). */
  get ownEndpoint(): string {
    return this.result.peers[this.result.rank] as string;
  }

  /** Port of this rank's endpoint, for joinRing's `port` option. */
  get ownPort(): number {
    return parseEndpoint(this.ownEndpoint).port;
  }

  join(endpoint: string): Promise<RendezvousResult> {
    const own = parseEndpoint(this.ownEndpoint);
    const got = parseEndpoint(endpoint);
    if (own.port !== got.port) {
      return Promise.reject(new Error(`rank ${this.result.rank} bound ${endpoint} but the static list says ${this.ownEndpoint}`));
    }
    return Promise.resolve(this.result);
  }
}

/**
 * Ports that are free on `host` right now (the OS picks them; they are released before returning, so another
 * process could still take one: good enough for tests and a launcher that binds them at once).
 */
export async function pickFreePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const srv = createServer();
          srv.once('error', reject);
          srv.listen(0, host, () => resolve(srv));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === 'string') throw new Error('could not read the port of a listening socket');
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

/** R loopback endpoints on free ports. */
export async function localEndpoints(count: number, host = '127.0.0.1'): Promise<string[]> {
  return (await pickFreePorts(count, host)).map((p) => `tcp://${host.includes(':') ? `[${host}]` : host}:${p}`);
}
