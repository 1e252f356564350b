// The two servers of the embedded local stack: how each is started, where it logs, and how we know it is healthy.
import { Connection } from '@temporalio/client';
import { join } from 'node:path';
import { SEARCH_ATTRIBUTE_TYPES } from '../contract/index.js';
import { mlflowBinary, temporalBinary } from './paths.js';

export type ServiceName = 'temporal' | 'mlflow';

export interface StackOptions {
  /** Interface the servers bind; 0.0.0.0 lets GPU workers on other hosts reach them. */
  readonly host: string;
  readonly temporalPort: number;
  readonly temporalUiPort: number;
  readonly mlflowPort: number;
  readonly stateDir: string;
}

export { DEFAULT_PORTS as DEFAULT_STACK_PORTS } from './endpoints.js';

/** Search attributes that make trials filterable in the Temporal UI: registered on the dev server at start. */
export const SEARCH_ATTRIBUTES: Readonly<Record<string, string>> = SEARCH_ATTRIBUTE_TYPES;

export interface PortSpec {
  readonly port: number;
  readonly what: string;
  readonly flag: string;
}

export interface ServiceSpec {
  readonly name: ServiceName;
  readonly binary: string;
  readonly args: readonly string[];
  readonly ports: readonly PortSpec[];
  readonly logFile: string;
  readonly url: string;
  healthy(): Promise<boolean>;
}

export function serviceSpecs(o: StackOptions): ServiceSpec[] {
  const probeHost = o.host === '0.0.0.0' ? '127.0.0.1' : o.host;
  const temporalAddress = `${probeHost}:${o.temporalPort}`;
  const mlflowUrl = `http://${probeHost}:${o.mlflowPort}`;
  return [
    {
      name: 'temporal',
      binary: temporalBinary(),
      args: [
        'server',
        'start-dev',
        '--ip',
        o.host,
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
        { port: o.temporalPort, what: 'Temporal gRPC', flag: '--temporal-port' },
        { port: o.temporalUiPort, what: 'Temporal Web UI', flag: '--temporal-ui-port' },
      ],
      logFile: join(o.stateDir, 'logs', 'temporal.log'),
      url: `http://${probeHost}:${o.temporalUiPort}`,
      healthy: () => temporalHealthy(temporalAddress),
    },
    {
      name: 'mlflow',
      binary: mlflowBinary(),
      args: [
        'server',
        '--backend-store-uri',
        `sqlite:///${join(o.stateDir, 'mlflow', 'mlflow.db')}`,
        '--artifacts-destination',
        join(o.stateDir, 'mlflow', 'artifacts'),
        '--serve-artifacts',
        '--host',
        o.host,
        '--port',
        String(o.mlflowPort),
        // Two workers: this is a laptop-sized stack; the default of four costs memory for nothing.
        '--workers',
        '2',
      ],
      ports: [{ port: o.mlflowPort, what: 'MLflow tracking server', flag: '--mlflow-port' }],
      logFile: join(o.stateDir, 'logs', 'mlflow.log'),
      url: mlflowUrl,
      healthy: () => mlflowHealthy(mlflowUrl),
    },
  ];
}

export async function temporalHealthy(address: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 5000 });
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
