// The servers of the embedded stack: how each is started, where it logs, and how we know it is healthy. The local
// profile is Temporal's dev server and MLflow on SQLite with artifacts on disk; the cluster profile puts MLflow on
// PostgreSQL with artifacts in an S3 bucket (cluster-head.ts) and runs Temporal's production server on the same
// PostgreSQL (temporal-server.ts).
import { Connection } from '@temporalio/client';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { SEARCH_ATTRIBUTE_TYPES } from '../contract/index.js';
import { ARTIFACT_DESTINATION, clusterStores, clusterStoreSpecs, storeClientEnv } from './cluster-head.js';
import { mlflowBinary, temporalBinary } from './paths.js';
import { temporalServerSpec, temporalUiSpec } from './temporal-server.js';
import { PLAINTEXT, temporalConnectionOptions } from '../temporal-connection.js';
import type { ServiceSpec, StackOptions } from './service-types.js';

export type { PortSpec, ServiceName, ServiceSpec, StackOptions, StackProfile } from './service-types.js';

/** Search attributes that make trials filterable in the Temporal UI: registered on the dev server at start. */
export const SEARCH_ATTRIBUTES: Readonly<Record<string, string>> = SEARCH_ATTRIBUTE_TYPES;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1)$/;

export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

/** Non-internal IPv4 addresses of this machine: what workers elsewhere can use when the stack binds 0.0.0.0. */
export function externalAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((a) => a ?? [])
    .filter((a) => a.family === 'IPv4' && !a.internal)
    .map((a) => a.address);
}

/**
 * What each server binds and which addresses workers on other hosts should use.
 * Temporal: the dev server (CLI 1.5.1) bound to one non-loopback address reports healthy but fails every workflow
 * start (its frontend dials an internal service on 127.0.0.1), so anything but loopback binds 0.0.0.0.
 * MLflow binds the given address; it answers a Host header that is not localhost or a private address with 403
 * ("Invalid Host header - possible DNS rebinding attack") unless listed in --allowed-hosts, so every address
 * workers may use is listed, and the matching browser origins in --cors-allowed-origins.
 */
export function bindings(o: StackOptions): { temporalIp: string; mlflowHost: string; workerAddresses: string[]; allowedHosts: string[]; corsOrigins: string[] } {
  const local = isLoopback(o.host);
  const workerAddresses = local ? [] : o.host === '0.0.0.0' ? externalAddresses() : [o.host];
  const names = [...new Set(['localhost', '127.0.0.1', ...workerAddresses, ...(o.host === '0.0.0.0' ? [hostname()] : []), ...(o.allowedHosts ?? [])])];
  return {
    temporalIp: local ? o.host : '0.0.0.0',
    mlflowHost: o.host,
    workerAddresses,
    allowedHosts: names.flatMap((h) => [h, `${h}:${o.mlflowPort}`]),
    corsOrigins: names.map((h) => `http://${h}:${o.mlflowPort}`),
  };
}

export function serviceSpecs(o: StackOptions): ServiceSpec[] {
  const probeHost = o.host === '0.0.0.0' ? '127.0.0.1' : o.host;
  const b = bindings(o);
  const temporalAddress = `${probeHost}:${o.temporalPort}`;
  const mlflowUrl = `http://${probeHost}:${o.mlflowPort}`;
  const cluster = o.profile === 'cluster';
  return [
    ...(cluster ? clusterStoreSpecs(o) : []),
    cluster ? temporalServerSpec(o, () => temporalHealthy(temporalAddress), temporalAddress) : {
      name: 'temporal',
      binary: temporalBinary(),
      args: [
        'server',
        'start-dev',
        '--ip',
        b.temporalIp,
        '--port',
        String(o.temporalPort),
        '--ui-port',
        String(o.temporalUiPort),
        '--db-filename',
        join(o.stateDir, 'temporal', 'temporal.db'),
        '--namespace',
        'default',
        '--log-level',
        'warn',
        ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, t]) => ['--search-attribute', `${k}=${t}`]),
      ],
      ports: [
        { port: o.temporalPort, what: 'Temporal gRPC', flag: '--temporal-port', host: b.temporalIp },
        { port: o.temporalUiPort, what: 'Temporal Web UI', flag: '--temporal-ui-port', host: b.temporalIp },
      ],
      logFile: join(o.stateDir, 'logs', 'temporal.log'),
      url: `http://${probeHost}:${o.temporalUiPort}`,
      healthy: () => temporalHealthy(temporalAddress),
    },
    ...(cluster ? [temporalUiSpec(o, probeHost)] : []),
    {
      name: 'mlflow',
      binary: mlflowBinary(),
      args: [
        'server',
        ...mlflowStoreArgs(o),
        '--serve-artifacts',
        '--host',
        b.mlflowHost,
        '--port',
        String(o.mlflowPort),
        '--allowed-hosts',
        b.allowedHosts.join(','),
        '--cors-allowed-origins',
        b.corsOrigins.join(','),
        // Two workers: this is a laptop-sized stack; the default of four costs memory for nothing.
        '--workers',
        '2',
      ],
      ...(cluster ? { env: storeClientEnv(clusterStores(o)), needs: ['postgres', 's3'] as const } : {}),
      ports: [{ port: o.mlflowPort, what: 'MLflow tracking server', flag: '--mlflow-port', host: b.mlflowHost }],
      logFile: join(o.stateDir, 'logs', 'mlflow.log'),
      url: mlflowUrl,
      healthy: () => mlflowHealthy(mlflowUrl),
    },
  ];
}

/** Where MLflow keeps runs and artifacts: SQLite and a directory (local), or PostgreSQL and an S3 bucket (cluster). */
function mlflowStoreArgs(o: StackOptions): string[] {
  if (o.profile === 'cluster') {
    return ['--backend-store-uri', clusterStores(o).mlflowBackendUri, '--artifacts-destination', ARTIFACT_DESTINATION];
  }
  return ['--backend-store-uri', `sqlite:///${join(o.stateDir, 'mlflow', 'mlflow.db')}`, '--artifacts-destination', join(o.stateDir, 'mlflow', 'artifacts')];
}

export async function temporalHealthy(address: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ ...temporalConnectionOptions(address, PLAINTEXT), connectTimeout: 5000 }); // the local dev server
    const res = await connection.healthService.check({ service: 'temporal.api.workflowservice.v1.WorkflowService' });
    return res.status === 1; // SERVING
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

export async function mlflowHealthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) });
    return res.ok;
  } catch {
    return false;
  }
}
