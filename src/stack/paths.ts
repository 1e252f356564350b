// Where the project keeps its caches and its local state. Caches (TensorFlow, Temporal CLI, virtualenvs) live outside
// the clone so a fresh clone reuses them; state (databases, logs, pids) lives in the project so `dev down` and a
// second clone do not interfere.
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: this file is dist/src/stack/paths.js once compiled. */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function cacheDir(): string {
  return process.env.DCIGN_CACHE ?? join(homedir(), '.cache', 'dcign');
}

export function stateDir(): string {
  return process.env.DCIGN_STATE_DIR ?? join(projectRoot, '.dcign');
}

export function temporalBinary(): string {
  return process.env.DCIGN_TEMPORAL_BIN ?? join(cacheDir(), 'bin', 'temporal');
}

export function mlflowBinary(): string {
  return process.env.DCIGN_MLFLOW_BIN ?? join(cacheDir(), 'mlflow-venv', 'bin', 'mlflow');
}

export function versitygwBinary(): string {
  return process.env.DCIGN_VERSITYGW_BIN ?? join(cacheDir(), 'bin', 'versitygw');
}

/** PostgreSQL's server binaries: DCIGN_POSTGRES_BIN_DIR, else the newest Debian version under /usr/lib/postgresql. */
export function postgresBinDir(): string {
  if (process.env.DCIGN_POSTGRES_BIN_DIR) return process.env.DCIGN_POSTGRES_BIN_DIR;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  return join(root, versions[0] ?? '<version>', 'bin');
}

/** Temporal's production server and schema tool (scripts/setup-temporal-server.sh), for the cluster profile. */
export function temporalServerHome(): string {
  return process.env.DCIGN_TEMPORAL_SERVER_HOME ?? join(cacheDir(), 'temporal-server-v1.29.1');
}
