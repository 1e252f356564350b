// The cluster profile's stores, run on the head without containers: PostgreSQL (MLflow's backend store) in a data
// directory of the stack's own, and versitygw (an Apache-2.0 S3 gateway over a directory) holding MLflow's artifacts.
// Both listen on loopback only: MLflow on the same host is their one client, and workers reach artifacts through
// MLflow's artifact proxy (--serve-artifacts), so they need neither database nor bucket credentials.
//
// PostgreSQL refuses to run as root (initdb and postgres both), so under root the cluster is owned by the `postgres`
// account Debian's package creates and started through setpriv; its data directory must be reachable by that account.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { mlflowBinary, postgresBinDir, versitygwBinary } from './paths.js';
import type { ServiceSpec, StackOptions } from './service-types.js';

const run = promisify(execFile);

export const DEFAULT_CLUSTER_PORTS = { postgresPort: 5432, s3Port: 7070 } as const;
/** MLflow's database, and the PostgreSQL role that owns it. */
export const MLFLOW_DATABASE = 'mlflow';
export const POSTGRES_ROLE = 'dcign';
export const ARTIFACT_BUCKET = 'dcign';
/** MLflow's --artifacts-destination: artifacts of experiment E, run R land under artifacts/E/R/artifacts/. */
export const ARTIFACT_DESTINATION = `s3://${ARTIFACT_BUCKET}/artifacts`;
const S3_REGION = 'us-east-1';

export interface S3Credentials {
  readonly accessKey: string;
  readonly secretKey: string;
}

export interface ClusterStores {
  readonly postgresPort: number;
  readonly s3Port: number;
  /** The database, as psql and people write it (no password: that comes from PGPASSWORD, out of `ps`). */
  readonly databaseUri: string;
  /**
   * The same for MLflow's SQLAlchemy, with the driver named: SQLAlchemy 2.1 takes a bare postgresql:// to mean
   * psycopg 3, and MLflow's server then fails at start with "No module named 'psycopg'"; we install psycopg2.
   */
  readonly mlflowBackendUri: string;
  readonly s3Endpoint: string;
  readonly password: string;
  readonly s3: S3Credentials;
}

const paths = (stateDir: string) => ({
  pgRoot: join(stateDir, 'postgres'),
  pgData: join(stateDir, 'postgres', 'data'),
  pgSocket: join(stateDir, 'postgres', 'run'),
  pgPassword: join(stateDir, 'postgres', 'password'),
  s3Root: join(stateDir, 's3'),
  s3Data: join(stateDir, 's3', 'data'),
  s3Meta: join(stateDir, 's3', 'meta'),
  s3Credentials: join(stateDir, 's3', 'credentials.json'),
});

/** Secrets made at the first `up` of a state dir and kept there (mode 0600) for the next. */
function secret(file: string, make: () => string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  writeFileSync(file, make(), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

export function clusterStores(o: StackOptions): ClusterStores {
  const p = paths(o.stateDir);
  mkdirSync(p.pgRoot, { recursive: true, mode: 0o700 });
  mkdirSync(p.s3Root, { recursive: true, mode: 0o700 });
  const password = secret(p.pgPassword, () => randomBytes(18).toString('base64url'));
  const s3 = JSON.parse(
    secret(p.s3Credentials, () => JSON.stringify({ accessKey: `dcign${randomBytes(6).toString('hex')}`, secretKey: randomBytes(24).toString('base64url') })),
  ) as S3Credentials;
  const postgresPort = o.postgresPort ?? DEFAULT_CLUSTER_PORTS.postgresPort;
  const s3Port = o.s3Port ?? DEFAULT_CLUSTER_PORTS.s3Port;
  return {
    postgresPort,
    s3Port,
    databaseUri: `postgresql://${POSTGRES_ROLE}@127.0.0.1:${postgresPort}/${MLFLOW_DATABASE}`,
    mlflowBackendUri: `postgresql+psycopg2://${POSTGRES_ROLE}@127.0.0.1:${postgresPort}/${MLFLOW_DATABASE}`,
    s3Endpoint: `http://127.0.0.1:${s3Port}`,
    password,
    s3,
  };
}

/** The environment that lets a client (MLflow, boto3, psql) use the stores: credentials, never in argv. */
export function storeClientEnv(stores: ClusterStores): Record<string, string> {
  return {
    PGPASSWORD: stores.password,
    MLFLOW_S3_ENDPOINT_URL: stores.s3Endpoint,
    AWS_ACCESS_KEY_ID: stores.s3.accessKey,
    AWS_SECRET_ACCESS_KEY: stores.s3.secretKey,
    AWS_DEFAULT_REGION: S3_REGION,
  };
}

/** The account PostgreSQL runs as: ourselves, or under root the `postgres` account (initdb refuses root). */
function pgAccount(): { user: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const user = process.env.DCIGN_POSTGRES_USER ?? 'postgres';
  try {
    const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
    return { user, uid, gid };
  } catch {
    throw new Error(
      `PostgreSQL will not run as root and there is no '${user}' account to run it as. ` +
        `Fix: install Debian's postgresql package (scripts/setup-postgres.sh creates that account), or set DCIGN_POSTGRES_USER to an unprivileged account.`,
    );
  }
}

/** The highest directory above dir that others may not enter (no o+x), if any. */
function closedAncestor(dir: string): string | undefined {
  const parts = resolve(dir).split(sep).filter((x) => x.length > 0);
  for (let i = 1; i < parts.length; i++) {
    const d = sep + parts.slice(0, i).join(sep);
    if ((statSync(d).mode & 0o001) === 0) return d;
  }
  return undefined;
}

function asPgAccount(): string[] {
  const a = pgAccount();
  return a ? ['setpriv', `--reuid=${a.uid}`, `--regid=${a.gid}`, '--init-groups', '--'] : [];
}

async function preparePostgres(o: StackOptions, stores: ClusterStores): Promise<void> {
  const p = paths(o.stateDir);
  const bin = postgresBinDir();
  const account = pgAccount();
  mkdirSync(p.pgSocket, { recursive: true });
  if (account) {
    chownSync(p.pgRoot, account.uid, account.gid);
    chownSync(p.pgSocket, account.uid, account.gid);
    try {
      execFileSync(asPgAccount()[0] as string, [...asPgAccount().slice(1), 'test', '-w', p.pgRoot]);
    } catch {
      throw new Error(
        `PostgreSQL runs as '${account.user}', who cannot reach ${p.pgRoot}: ${closedAncestor(p.pgRoot) ?? 'a directory above it'} is closed to other users. ` +
          `Fix: chmod o+x ${closedAncestor(p.pgRoot) ?? 'each directory above it'}, or choose a --state-dir it can reach.`,
      );
    }
  }
  if (existsSync(join(p.pgData, 'PG_VERSION'))) return;
  // initdb reads the superuser's password from a file: a copy the server's account can read, removed at once.
  const pwfile = join(p.pgRoot, 'initdb-password');
  writeFileSync(pwfile, `${stores.password}\n`, { mode: 0o600 });
  if (account) chownSync(pwfile, account.uid, account.gid);
  try {
    const [cmd, ...pre] = [...asPgAccount(), join(bin, 'initdb')] as string[] as [string, ...string[]];
    await run(cmd, [...pre, '-D', p.pgData, '-U', POSTGRES_ROLE, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--no-locale'], {
      timeout: 120_000,
    }).catch((err: Error & { stderr?: string }) => {
      throw new Error(`initdb of ${p.pgData} failed: ${err.stderr ?? err.message}`);
    });
  } finally {
    rmSync(pwfile, { force: true });
  }
}

/** MLflow's database, created once the server answers. */
async function createMlflowDatabase(stores: ClusterStores): Promise<void> {
  const psql = join(postgresBinDir(), 'psql');
  const env = { ...process.env, PGPASSWORD: stores.password };
  const conn = ['-h', '127.0.0.1', '-p', String(stores.postgresPort), '-U', POSTGRES_ROLE, '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-tAc'];
  const { stdout } = await run(psql, [...conn, `SELECT 1 FROM pg_database WHERE datname = '${MLFLOW_DATABASE}'`], { env });
  if (stdout.trim() !== '1') await run(psql, [...conn, `CREATE DATABASE ${MLFLOW_DATABASE}`], { env });
}

async function postgresReady(port: number): Promise<boolean> {
  try {
    await run(join(postgresBinDir(), 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)], { timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/** The bucket, created through the S3 API (boto3 from MLflow's virtualenv, which MLflow itself uses for S3). */
async function createBucket(stores: ClusterStores): Promise<void> {
  const python = join(mlflowBinary(), '..', 'python');
  const script = [
    'import os, boto3, botocore',
    `s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])`,
    'try:',
    `    s3.head_bucket(Bucket="${ARTIFACT_BUCKET}")`,
    'except botocore.exceptions.ClientError:',
    `    s3.create_bucket(Bucket="${ARTIFACT_BUCKET}")`,
  ].join('\n');
  await run(python, ['-c', script], { env: { ...process.env, ...storeClientEnv(stores) }, timeout: 60_000 }).catch(
    (err: Error & { stderr?: string }) => {
      throw new Error(`could not create the artifact bucket ${ARTIFACT_BUCKET} on ${stores.s3Endpoint}: ${err.stderr ?? err.message}`);
    },
  );
}

/** The S3 gateway answers (any HTTP status: an unsigned request gets 403). */
async function s3Answers(endpoint: string): Promise<boolean> {
  try {
    await fetch(endpoint, { signal: AbortSignal.timeout(3000) });
    return true;
  } catch {
    return false;
  }
}

export function clusterStoreSpecs(o: StackOptions): ServiceSpec[] {
  const stores = clusterStores(o);
  const p = paths(o.stateDir);
  return [
    {
      name: 'postgres',
      binary: join(postgresBinDir(), 'postgres'),
      launcher: asPgAccount(),
      args: ['-D', p.pgData, '-p', String(stores.postgresPort), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${p.pgSocket}`],
      ports: [{ port: stores.postgresPort, what: 'PostgreSQL', flag: '--postgres-port', host: '127.0.0.1' }],
      logFile: join(o.stateDir, 'logs', 'postgres.log'),
      url: stores.databaseUri,
      installHint: 'run `bash scripts/setup-postgres.sh` (Debian\'s postgresql package), or set DCIGN_POSTGRES_BIN_DIR',
      // SIGINT to the postmaster alone is PostgreSQL's "fast" shutdown; signalling its children too would look like a crash.
      stopSignal: 'SIGINT',
      signalGroup: false,
      prepare: () => preparePostgres(o, stores),
      initialise: () => createMlflowDatabase(stores),
      healthy: () => postgresReady(stores.postgresPort),
    },
    {
      name: 's3',
      binary: versitygwBinary(),
      // A sidecar directory holds object metadata, so the store works on file systems without user xattrs.
      args: ['--port', `127.0.0.1:${stores.s3Port}`, '--quiet', 'posix', '--sidecar', p.s3Meta, p.s3Data],
      env: { ROOT_ACCESS_KEY: stores.s3.accessKey, ROOT_SECRET_KEY: stores.s3.secretKey },
      ports: [{ port: stores.s3Port, what: 'S3 store (versitygw)', flag: '--s3-port', host: '127.0.0.1' }],
      logFile: join(o.stateDir, 'logs', 's3.log'),
      url: `${stores.s3Endpoint} (bucket ${ARTIFACT_BUCKET})`,
      installHint: 'run `bash scripts/setup-s3.sh` (builds versitygw with Go), or set DCIGN_VERSITYGW_BIN',
      prepare: () => {
        mkdirSync(p.s3Data, { recursive: true });
        mkdirSync(p.s3Meta, { recursive: true });
        chmodSync(p.s3Root, 0o700);
        return Promise.resolve();
      },
      initialise: () => createBucket(stores),
      healthy: () => s3Answers(stores.s3Endpoint),
    },
  ];
}
