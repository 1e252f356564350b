// The shapes shared by the stack's service definitions (services.ts for Temporal and MLflow, cluster-head.ts for the
// cluster profile's PostgreSQL and S3 store) and by the code that starts, records and stops them (stack.ts, state.ts).
export type ServiceName = 'postgres' | 's3' | 'temporal' | 'temporal-ui' | 'mlflow';

/**
 * local: the Temporal dev server and MLflow on SQLite with artifacts on disk (a laptop, CI).
 * cluster: a lab's head node: MLflow on PostgreSQL with artifacts in an S3 bucket (versitygw), Temporal beside them.
 */
export type StackProfile = 'local' | 'cluster';

export const STACK_PROFILES: readonly StackProfile[] = ['local', 'cluster'];

export interface StackOptions {
  /**
   * Where the servers are reached: a loopback address (this machine only), one address of this machine (workers on
   * other hosts use it), or 0.0.0.0 (every interface). See bindings() for what each server actually binds.
   */
  readonly host: string;
  /** Extra Host header values MLflow accepts (DNS names workers use for this machine), beside its own addresses. */
  readonly allowedHosts?: readonly string[];
  readonly temporalPort: number;
  readonly temporalUiPort: number;
  readonly mlflowPort: number;
  readonly stateDir: string;
  /** Absent in a stack recorded before profiles existed: local. */
  readonly profile?: StackProfile;
  /** The cluster profile's PostgreSQL (MLflow's backend store); loopback only. */
  readonly postgresPort?: number;
  /** The cluster profile's S3 endpoint (MLflow's artifact store); loopback only. */
  readonly s3Port?: number;
}

export interface PortSpec {
  readonly port: number;
  readonly what: string;
  readonly flag: string;
  /** Address the server binds this port on. */
  readonly host: string;
}

export interface ServiceSpec {
  readonly name: ServiceName;
  /** The server's own executable: what must exist, and what /proc/<pid>/cmdline shows once it runs. */
  readonly binary: string;
  /** Run before the binary, which it execs (e.g. setpriv, to drop root for PostgreSQL). */
  readonly launcher?: readonly string[];
  readonly args: readonly string[];
  /** Added to this process's environment (credentials stay off the command line, out of `ps`). */
  readonly env?: Readonly<Record<string, string>>;
  readonly ports: readonly PortSpec[];
  readonly logFile: string;
  readonly url: string;
  /** What to run when the binary is missing. */
  readonly installHint?: string;
  /** Services that must be healthy (and initialised) before this one starts. */
  readonly needs?: readonly ServiceName[];
  /** How `down` stops it: the signal, and whether to its whole process group (default SIGTERM, group). */
  readonly stopSignal?: NodeJS.Signals;
  readonly signalGroup?: boolean;
  /** Before the first launch of this stack dir: create data directories, databases, credentials. Idempotent. */
  prepare?(): Promise<void>;
  /** Once healthy, before the services that need it start: create what they expect (a database, a bucket). Idempotent. */
  initialise?(): Promise<void>;
  healthy(): Promise<boolean>;
}
