// The cluster profile's Temporal: the production server (go.temporal.io/server, built by
// scripts/setup-temporal-server.sh) on the head's PostgreSQL, with SQL advanced visibility (PostgreSQL 12+ schema), so
// dcign's custom search attributes filter without Elasticsearch. Its four services (frontend, history, matching,
// worker) run in one process; only the frontend's gRPC port is dcign's to choose, the internal ones are picked free
// at each start. Schema: created at the first start and updated to the installed server's version at every start
// (temporal-sql-tool's update-schema is a no-op when current), which is also how a server upgrade migrates it.
// The Web UI is Temporal's UI server beside it, pointed at the frontend.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import { stringify } from 'yaml';
import { ensureSearchAttributes } from '../sweep/control.js';
import { PLAINTEXT, temporalConnectionOptions } from '../temporal-connection.js';
import { clusterStores, POSTGRES_ROLE, type ClusterStores } from './cluster-head.js';
import { temporalServerHome } from './paths.js';
import { portIsFree } from './ports.js';
import type { ServiceSpec, StackOptions } from './service-types.js';

const run = promisify(execFile);

export const TEMPORAL_DATABASES = { persistence: 'temporal', visibility: 'temporal_visibility' } as const;
const NAMESPACE = 'default';
const RETENTION_SECONDS = 7 * 24 * 3600;

function schemaDir(kind: 'temporal' | 'visibility'): string {
  return join(temporalServerHome(), 'schema', 'postgresql', 'v12', kind, 'versioned');
}

/** Creates both databases where missing and brings their schemas to the installed server's version. */
async function migrate(stores: ClusterStores): Promise<void> {
  const tool = join(temporalServerHome(), 'bin', 'temporal-sql-tool');
  const env = { ...process.env, SQL_PASSWORD: stores.password };
  const base = ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(stores.postgresPort), '-u', POSTGRES_ROLE];
  for (const [kind, db] of [['temporal', TEMPORAL_DATABASES.persistence], ['visibility', TEMPORAL_DATABASES.visibility]] as const) {
    const sql = async (args: string[], quiet = false) =>
      run(tool, [...base, '--db', db, ...(quiet ? ['--quiet'] : []), ...args], { env, timeout: 180_000 }).catch((err: Error & { stderr?: string }) => {
        throw new Error(`temporal-sql-tool ${args[0] ?? ''} on ${db} failed: ${err.stderr ?? err.message}`);
      });
    // Both refuse a database that is already there (create-database) or set up (setup-schema -v 0.0 only creates the
    // version table): quiet, so a restart goes on to update-schema, which says plainly if anything is wrong.
    await sql(['create-database'], true);
    await sql(['setup-schema', '-v', '0.0'], true);
    await sql(['update-schema', '-d', schemaDir(kind)]);
  }
}

function serverConfig(o: StackOptions, stores: ClusterStores, internal: readonly number[]): Record<string, unknown> {
  const [frontendMembership, historyGrpc, historyMembership, matchingGrpc, matchingMembership, workerGrpc, workerMembership] = internal;
  // Loopback: every service on 127.0.0.1. Otherwise the frontend (all that workers talk to) on the given address or
  // on every interface, the internal services still on loopback.
  const local = o.host === '127.0.0.1' || o.host === 'localhost';
  const rpc = (grpcPort: number | undefined, membershipPort: number | undefined, frontend = false) => ({
    rpc: { grpcPort, membershipPort, ...(frontend && !local ? { bindOnIP: o.host } : { bindOnLocalHost: true }) },
  });
  const datastore = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `127.0.0.1:${stores.postgresPort}`,
      connectProtocol: 'tcp',
      user: POSTGRES_ROLE,
      password: stores.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      // Fixed for the life of the database: 4 is Temporal's development default; a large lab wants more from the start.
      numHistoryShards: 4,
      datastores: { 'postgres-default': datastore(TEMPORAL_DATABASES.persistence, 20), 'postgres-visibility': datastore(TEMPORAL_DATABASES.visibility, 4) },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: {
      frontend: rpc(o.temporalPort, frontendMembership, true),
      history: rpc(historyGrpc, historyMembership),
      matching: rpc(matchingGrpc, matchingMembership),
      worker: rpc(workerGrpc, workerMembership),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `127.0.0.1:${o.temporalPort}` } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: join(o.stateDir, 'temporal-server', 'config', 'dynamicconfig.yaml'), pollInterval: '10s' },
  };
}

/**
 * Free ports for the internal services, below 32768: the server records each service's ports in PostgreSQL's
 * cluster_membership table as smallint, and an ephemeral port (32768+) fails its start with "value out of range for
 * type smallint".
 */
async function internalPorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < n; tries++) {
    if (tries > 2000) throw new Error('no free ports between 20000 and 32767 for the Temporal server\'s internal services');
    const p = 20_000 + Math.floor(Math.random() * 12_768);
    if (!ports.includes(p) && (await portIsFree(p, '127.0.0.1'))) ports.push(p);
  }
  return ports;
}

/** Registers the namespace and dcign's search attributes; resolves once the frontend serves both. */
async function registerNamespace(address: string): Promise<void> {
  const connection = await Connection.connect({ ...temporalConnectionOptions(address, PLAINTEXT), connectTimeout: 10_000 });
  try {
    try {
      await connection.workflowService.registerNamespace({ namespace: NAMESPACE, workflowExecutionRetentionPeriod: msToTs(RETENTION_SECONDS * 1000) });
    } catch (err) {
      if (!/already exists/i.test(String(err))) throw err;
    }
    const client = new Client({ connection, namespace: NAMESPACE });
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        // The namespace reaches every service's cache within seconds; until then this fails with "not found". The
        // first pass adds what is missing, a pass that finds nothing missing ends the wait.
        if ((await ensureSearchAttributes(client, NAMESPACE)).length === 0) return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`Temporal did not serve namespace ${NAMESPACE} within 60 s: ${String(err)}`);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    await connection.close();
  }
}

export function temporalServerSpec(o: StackOptions, healthy: () => Promise<boolean>, probeAddress: string): ServiceSpec {
  const root = join(o.stateDir, 'temporal-server');
  return {
    name: 'temporal',
    binary: join(temporalServerHome(), 'bin', 'temporal-server'),
    args: ['--root', root, '--config', 'config', '--env', 'dcign', '--allow-no-auth', 'start'],
    ports: [{ port: o.temporalPort, what: 'Temporal gRPC', flag: '--temporal-port', host: o.host }],
    logFile: join(o.stateDir, 'logs', 'temporal.log'),
    url: `grpc://${probeAddress}`,
    installHint: 'run `bash scripts/setup-temporal-server.sh` (builds go.temporal.io/server with Go)',
    needs: ['postgres'],
    prepare: async () => {
      const stores = clusterStores(o);
      if (!existsSync(join(temporalServerHome(), 'schema'))) {
        throw new Error(`the Temporal server's schema files are missing in ${temporalServerHome()}. Fix: run \`bash scripts/setup-temporal-server.sh\`.`);
      }
      await migrate(stores);
      mkdirSync(join(root, 'config'), { recursive: true, mode: 0o700 });
      const internal = await internalPorts(7);
      // The config holds the database password: readable by this account only.
      writeFileSync(join(root, 'config', 'dcign.yaml'), stringify(serverConfig(o, stores, internal)), { mode: 0o600 });
      writeFileSync(
        join(root, 'config', 'dynamicconfig.yaml'),
        stringify({
          // A search attribute registered a moment ago is usable at once (as on the dev server), not after a cache refresh.
          'system.forceSearchAttributesCacheRefreshOnRead': [{ value: true }],
          'frontend.enableUpdateWorkflowExecution': [{ value: true }],
        }),
      );
    },
    initialise: () => registerNamespace(probeAddress),
    healthy,
  };
}

/** Temporal's Web UI server (github.com/temporalio/ui-server), on the frontend of the server above. */
export function temporalUiSpec(o: StackOptions, probeHost: string): ServiceSpec {
  const root = join(o.stateDir, 'temporal-ui');
  const url = `http://${probeHost}:${o.temporalUiPort}`;
  return {
    name: 'temporal-ui',
    binary: join(temporalServerHome(), 'bin', 'temporal-ui-server'),
    args: ['--root', root, '--config', 'config', '--env', 'dcign', 'start'],
    ports: [{ port: o.temporalUiPort, what: 'Temporal Web UI', flag: '--temporal-ui-port', host: o.host }],
    logFile: join(o.stateDir, 'logs', 'temporal-ui.log'),
    url,
    installHint: 'run `bash scripts/setup-temporal-server.sh` (builds the Temporal UI server with Go)',
    needs: ['temporal'],
    prepare: () => {
      mkdirSync(join(root, 'config'), { recursive: true });
      writeFileSync(
        join(root, 'config', 'dcign.yaml'),
        stringify({
          temporalGrpcAddress: `127.0.0.1:${o.temporalPort}`,
          host: o.host,
          port: o.temporalUiPort,
          enableUi: true,
          defaultNamespace: NAMESPACE,
          // Plain HTTP on the head: a Secure cookie would never come back.
          cors: { cookieInsecure: true, allowOrigins: [] },
        }),
      );
      return Promise.resolve();
    },
    healthy: async () => {
      try {
        return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(3000) })).ok;
      } catch {
        return false;
      }
    },
  };
}
