// How every dcign process connects to Temporal: address plus TLS / mTLS / API key, with the flag names of Temporal's
// own CLI (--tls, --tls-cert-path, --tls-key-path, --tls-ca-path, --tls-server-name, --tls-disable-host-verification,
// --api-key). Each value comes from its flag, else the environment: the names of Temporal's client environment
// configuration (TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH,
// TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME, TEMPORAL_TLS_DISABLE_HOST_VERIFICATION,
// TEMPORAL_API_KEY), else the shorter names older Temporal CLIs and the Temporal UI server read (TEMPORAL_TLS_CERT,
// TEMPORAL_TLS_KEY, TEMPORAL_TLS_CA). As in Temporal's CLI, any TLS option or an API key turns TLS on unless --tls=false.
//
// Everything is checked, and the files read, before any connection is tried, so a typo fails with one line naming the
// flag and the file rather than a TLS handshake error from deep inside gRPC.
import { readFileSync, statSync } from 'node:fs';

import type { TLSConfig } from '@temporalio/client';

/** The flags, as yargs hands them over (kebab-case keys). */
export interface TemporalTlsFlags {
  readonly tls?: boolean | undefined;
  readonly 'tls-cert-path'?: string | undefined;
  readonly 'tls-key-path'?: string | undefined;
  readonly 'tls-ca-path'?: string | undefined;
  readonly 'tls-server-name'?: string | undefined;
  readonly 'tls-disable-host-verification'?: boolean | undefined;
  readonly 'api-key'?: string | undefined;
}

/** What a connection needs beyond the address: no TLS (plaintext), TLS with optional client certificate, an API key. */
export interface TemporalSecurity {
  readonly tls?: TLSConfig;
  readonly apiKey?: string;
}

/** Plaintext, no credentials: the local dev stack. */
export const PLAINTEXT: TemporalSecurity = {};

export class TemporalConnectionConfigError extends Error {
  override readonly name = 'TemporalConnectionConfigError';
}

/** Environment variables read for each flag, first match wins (after the flag itself). */
export const TLS_ENV: Readonly<Record<keyof TemporalTlsFlags, readonly string[]>> = {
  tls: ['TEMPORAL_TLS'],
  'tls-cert-path': ['TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CERT'],
  'tls-key-path': ['TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_KEY'],
  'tls-ca-path': ['TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'TEMPORAL_TLS_CA'],
  'tls-server-name': ['TEMPORAL_TLS_SERVER_NAME'],
  'tls-disable-host-verification': ['TEMPORAL_TLS_DISABLE_HOST_VERIFICATION'],
  'api-key': ['TEMPORAL_API_KEY'],
};

/** The yargs option definitions, shared by every command that talks to Temporal. */
export const TEMPORAL_TLS_OPTIONS = {
  tls: { type: 'boolean', describe: 'connect to Temporal over TLS (on by default when any --tls-* option or an API key is given; --tls=false forces plaintext; env TEMPORAL_TLS)' },
  'tls-cert-path': { type: 'string', describe: 'client certificate (PEM) for mTLS (env TEMPORAL_TLS_CLIENT_CERT_PATH or TEMPORAL_TLS_CERT)' },
  'tls-key-path': { type: 'string', describe: 'client private key (PEM) for mTLS (env TEMPORAL_TLS_CLIENT_KEY_PATH or TEMPORAL_TLS_KEY)' },
  'tls-ca-path': { type: 'string', describe: 'CA certificate (PEM) the server certificate must chain to; default: the system roots (env TEMPORAL_TLS_SERVER_CA_CERT_PATH or TEMPORAL_TLS_CA)' },
  'tls-server-name': { type: 'string', describe: 'name the server certificate must carry, when it differs from the address host (env TEMPORAL_TLS_SERVER_NAME)' },
  'tls-disable-host-verification': { type: 'boolean', describe: 'not supported by the Temporal TypeScript SDK: refused with a hint (use --tls-server-name)' },
  'api-key': { type: 'string', describe: 'API key sent with every request, e.g. Temporal Cloud; prefer env TEMPORAL_API_KEY (flags show in ps)' },
} as const;

export interface ResolveSecurityOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Reads a file (tests replace it); default fs.readFileSync after a stat check. */
  readonly readFile?: (file: string) => Buffer;
}

/**
 * The connection's TLS and API key from flags and environment, every file read and checked. Throws
 * TemporalConnectionConfigError naming the flag (and the environment variable it came from) on bad input.
 */
export function resolveTemporalSecurity(flags: TemporalTlsFlags = {}, o: ResolveSecurityOptions = {}): TemporalSecurity {
  const env = o.env ?? process.env;
  const read = o.readFile ?? readPemFile;
  const str = (k: 'tls-cert-path' | 'tls-key-path' | 'tls-ca-path' | 'tls-server-name' | 'api-key'): Sourced<string> | undefined => {
    const flag = flags[k];
    if (flag !== undefined) {
      if (flag.trim() === '') throw new TemporalConnectionConfigError(`--${k} is empty`);
      return { value: flag.trim(), from: `--${k}` };
    }
    for (const name of TLS_ENV[k]) {
      const v = env[name];
      if (v !== undefined && v.trim() !== '') return { value: v.trim(), from: name };
    }
    return undefined;
  };
  const bool = (k: 'tls' | 'tls-disable-host-verification'): Sourced<boolean> | undefined => {
    const flag = flags[k];
    if (flag !== undefined) return { value: flag, from: `--${k}` };
    for (const name of TLS_ENV[k]) {
      const v = env[name]?.trim().toLowerCase();
      if (v === undefined || v === '') continue;
      if (['1', 'true', 'yes', 'on'].includes(v)) return { value: true, from: name };
      if (['0', 'false', 'no', 'off'].includes(v)) return { value: false, from: name };
      throw new TemporalConnectionConfigError(`${name}=${JSON.stringify(env[name])} is not a boolean (true or false)`);
    }
    return undefined;
  };

  const tls = bool('tls');
  const cert = str('tls-cert-path');
  const key = str('tls-key-path');
  const ca = str('tls-ca-path');
  const serverName = str('tls-server-name');
  const noVerify = bool('tls-disable-host-verification');
  const apiKey = str('api-key');

  const tlsOptions = [cert, key, ca, serverName, noVerify?.value === true ? noVerify : undefined].filter((s) => s !== undefined);
  if (tls?.value === false && tlsOptions.length > 0) {
    throw new TemporalConnectionConfigError(
      `${tls.from}=false turns TLS off, but ${tlsOptions.map((s) => s.from).join(', ')} ${tlsOptions.length === 1 ? 'is a TLS option' : 'are TLS options'}: drop one or the other`,
    );
  }
  if (noVerify?.value === true) {
    throw new TemporalConnectionConfigError(
      `${noVerify.from}: the Temporal TypeScript SDK cannot skip the server certificate's host-name check; give --tls-server-name with the name the certificate carries (and --tls-ca-path with its CA)`,
    );
  }
  if (cert && !key) throw new TemporalConnectionConfigError(`${cert.from} is given without a client key: mTLS needs both --tls-cert-path and --tls-key-path`);
  if (key && !cert) throw new TemporalConnectionConfigError(`${key.from} is given without a client certificate: mTLS needs both --tls-cert-path and --tls-key-path`);
  if (apiKey && /\s/.test(apiKey.value)) throw new TemporalConnectionConfigError(`${apiKey.from} contains whitespace; an API key is one token`);

  const on = tls?.value ?? (tlsOptions.length > 0 || apiKey !== undefined);
  const security: { tls?: TLSConfig; apiKey?: string } = {};
  if (apiKey) security.apiKey = apiKey.value;
  if (!on) return security;
  const config: { serverNameOverride?: string; serverRootCACertificate?: Uint8Array; clientCertPair?: { crt: Uint8Array; key: Uint8Array } } = {};
  if (serverName) config.serverNameOverride = serverName.value;
  if (ca) config.serverRootCACertificate = loadPem(read, ca, 'CERTIFICATE');
  if (cert && key) config.clientCertPair = { crt: loadPem(read, cert, 'CERTIFICATE'), key: loadPem(read, key, 'PRIVATE KEY') };
  security.tls = config;
  return security;
}

/** Connection options for @temporalio/client's Connection and @temporalio/worker's NativeConnection. */
export function temporalConnectionOptions(address: string, security: TemporalSecurity = PLAINTEXT): { address: string; tls?: TLSConfig; apiKey?: string } {
  return {
    address,
    ...(security.tls ? { tls: security.tls } : {}),
    ...(security.apiKey !== undefined ? { apiKey: security.apiKey } : {}),
  };
}

/** One line for logs: how this process reaches Temporal, never the secrets. */
export function describeTemporalSecurity(s: TemporalSecurity): string {
  const parts = [!s.tls ? 'plaintext' : s.tls.clientCertPair ? 'mTLS' : 'TLS'];
  if (s.tls?.serverRootCACertificate) parts.push('own CA');
  if (s.tls?.serverNameOverride) parts.push(`server name ${s.tls.serverNameOverride}`);
  if (s.apiKey !== undefined) parts.push('API key');
  return parts.join(', ');
}

interface Sourced<T> {
  readonly value: T;
  /** `--flag` or the environment variable's name, for error messages. */
  readonly from: string;
}

function readPemFile(file: string): Buffer {
  const st = statSync(file); // throws ENOENT / EACCES, reworded by loadPem
  if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTFILE' });
  return readFileSync(file);
}

function loadPem(read: (file: string) => Buffer, s: Sourced<string>, kind: 'CERTIFICATE' | 'PRIVATE KEY'): Uint8Array {
  let data: Buffer;
  try {
    data = read(s.value);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'ENOTFILE' ? 'not a regular file' : (err as Error).message;
    throw new TemporalConnectionConfigError(`${s.from} ${s.value}: cannot read it (${why})`);
  }
  const text = data.toString('latin1');
  // PRIVATE KEY matches "-----BEGIN PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"; never an encrypted one
  const begin = new RegExp(`-----BEGIN [A-Z ]*${kind}-----`);
  if (!begin.test(text)) {
    throw new TemporalConnectionConfigError(`${s.from} ${s.value}: not a PEM ${kind === 'CERTIFICATE' ? 'certificate' : 'private key'} (no "-----BEGIN ...${kind}-----" line)`);
  }
  if (kind === 'PRIVATE KEY' && /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) {
    throw new TemporalConnectionConfigError(`${s.from} ${s.value}: the private key is encrypted; give an unencrypted key (mode 0600)`);
  }
  return data;
}
