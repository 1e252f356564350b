// Where the servers are, for connections and for the links we print. Each value comes from, in order: the command's
// flag, the environment (TEMPORAL_ADDRESS, TEMPORAL_UI, MLFLOW_TRACKING_URI: an explicit choice, e.g. a cluster),
// the ports the local stack recorded when `dcign dev up` started it (.dcign/stack.json), then the defaults.
import { stateDir as defaultStateDir } from './paths.js';
import type { StackOptions } from './services.js';
import { readStackState } from './state.js';

export interface Endpoints {
  /** Temporal frontend, host:port. */
  readonly temporalAddress: string;
  /** Temporal Web UI base URL. */
  readonly temporalUi: string;
  /** MLflow tracking server URL (also its UI). */
  readonly mlflowUri: string;
}

export const DEFAULT_PORTS = { temporalPort: 7233, temporalUiPort: 8233, mlflowPort: 5000 } as const;

export const DEFAULT_ENDPOINTS: Endpoints = {
  temporalAddress: `127.0.0.1:${DEFAULT_PORTS.temporalPort}`,
  temporalUi: `http://localhost:${DEFAULT_PORTS.temporalUiPort}`,
  mlflowUri: `http://127.0.0.1:${DEFAULT_PORTS.mlflowPort}`,
};

/** The addresses of a stack started with these options, as seen from this machine. */
export function stackEndpoints(o: Pick<StackOptions, 'host' | 'temporalPort' | 'temporalUiPort' | 'mlflowPort'>): Endpoints {
  const local = o.host === '0.0.0.0' || o.host === '127.0.0.1';
  const host = local ? '127.0.0.1' : o.host;
  return {
    temporalAddress: `${host}:${o.temporalPort}`,
    temporalUi: `http://${local ? 'localhost' : host}:${o.temporalUiPort}`,
    mlflowUri: `http://${host}:${o.mlflowPort}`,
  };
}

export interface ResolveOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Where `dcign dev up` records the stack (default .dcign/ or DCIGN_STATE_DIR). */
  readonly stateDir?: string;
}

/** Flags first, then the environment, then the recorded local stack, then the defaults; value by value. */
export function resolveEndpoints(flags: Partial<Endpoints> = {}, o: ResolveOptions = {}): Endpoints {
  const env = o.env ?? process.env;
  const recorded = readStackState(o.stateDir ?? defaultStateDir());
  const stack = recorded && Object.keys(recorded.services).length > 0 ? stackEndpoints(recorded.options) : DEFAULT_ENDPOINTS;
  const pick = (flag: string | undefined, envValue: string | undefined, fallback: string): string =>
    nonEmpty(flag) ?? nonEmpty(envValue) ?? fallback;
  return {
    temporalAddress: pick(flags.temporalAddress, env.TEMPORAL_ADDRESS, stack.temporalAddress),
    temporalUi: pick(flags.temporalUi, env.TEMPORAL_UI, stack.temporalUi).replace(/\/$/, ''),
    mlflowUri: pick(flags.mlflowUri, env.MLFLOW_TRACKING_URI, stack.mlflowUri).replace(/\/$/, ''),
  };
}

/** Shell exports that point other shells and machines at a stack on non-default ports; none for the defaults. */
export function exportsFor(o: Pick<StackOptions, 'host' | 'temporalPort' | 'temporalUiPort' | 'mlflowPort'>): string[] {
  const ep = stackEndpoints(o);
  const lines: string[] = [];
  if (o.temporalPort !== DEFAULT_PORTS.temporalPort) lines.push(`export TEMPORAL_ADDRESS=${ep.temporalAddress}`);
  if (o.temporalUiPort !== DEFAULT_PORTS.temporalUiPort) lines.push(`export TEMPORAL_UI=${ep.temporalUi}`);
  if (o.mlflowPort !== DEFAULT_PORTS.mlflowPort) lines.push(`export MLFLOW_TRACKING_URI=${ep.mlflowUri}`);
  return lines;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s.trim() === '' ? undefined : s.trim();
}
