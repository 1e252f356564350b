// Temporal TLS / mTLS / API key options (src/stack/temporal-connection.ts): flag and environment parsing, the error
// messages for bad input (all before any connection), the yargs flags of every command that connects, and a real mTLS
// connection. The Temporal CLI dev server serves only plaintext, so the real connection goes through a TLS-terminating
// proxy in front of it that demands a client certificate signed by a test CA (as an ingress or load balancer in front
// of a Temporal frontend would); a Temporal server terminating mTLS itself is not exercised here.
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import yargs from 'yargs';

import { workerCommand } from '../../src/cli/commands/worker.js';
import {
  TEMPORAL_TLS_OPTIONS,
  TemporalConnectionConfigError,
  describeTemporalSecurity,
  resolveTemporalSecurity,
  temporalConnectionOptions,
} from '../../src/temporal-connection.js';
import { startTemporal } from '../helpers/temporal.js';
import type { TemporalTestServer } from '../helpers/temporal.js';

const execFileAsync = promisify(execFile);
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';
const files: Record<string, string> = { '/c.pem': CERT, '/k.pem': KEY, '/ca.pem': CERT, '/junk.pem': 'hello\n', '/enc.pem': '-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n' };
const readFile = (f: string): Buffer => {
  if (!(f in files)) throw Object.assign(new Error(`ENOENT: ${f}`), { code: 'ENOENT' });
  return Buffer.from(files[f] as string);
};
const resolve = (flags: Parameters<typeof resolveTemporalSecurity>[0], env: NodeJS.ProcessEnv = {}) => resolveTemporalSecurity(flags, { env, readFile });
const fails = (t: { throws: (fn: () => unknown, e: object) => unknown }, fn: () => unknown, message: RegExp) =>
  t.throws(fn, { instanceOf: TemporalConnectionConfigError, message });

test('nothing given: plaintext, no API key', (t) => {
  t.deepEqual(resolve({}), {});
  t.deepEqual(temporalConnectionOptions('h:7233', resolve({})), { address: 'h:7233' });
  t.is(describeTemporalSecurity(resolve({})), 'plaintext');
});

test('--tls alone: TLS with the system roots', (t) => {
  t.deepEqual(resolve({ tls: true }), { tls: {} });
  t.deepEqual(resolve({}, { TEMPORAL_TLS: 'true' }), { tls: {} });
  t.is(describeTemporalSecurity(resolve({ tls: true })), 'TLS');
});

test('mTLS from the flags: files read, TLS implied, server name and CA passed on', (t) => {
  const s = resolve({ 'tls-cert-path': '/c.pem', 'tls-key-path': '/k.pem', 'tls-ca-path': '/ca.pem', 'tls-server-name': 'temporal.internal' });
  t.deepEqual(Buffer.from(s.tls?.clientCertPair?.crt ?? []).toString(), CERT);
  t.deepEqual(Buffer.from(s.tls?.clientCertPair?.key ?? []).toString(), KEY);
  t.deepEqual(Buffer.from(s.tls?.serverRootCACertificate ?? []).toString(), CERT);
  t.is(s.tls?.serverNameOverride, 'temporal.internal');
  t.is(describeTemporalSecurity(s), 'mTLS, own CA, server name temporal.internal');
  const o = temporalConnectionOptions('temporal:7233', s);
  t.is(o.address, 'temporal:7233');
  t.is(o.tls, s.tls);
});

test('the environment: Temporal client env names, then the older short names; a flag wins over both', (t) => {
  const current = resolve({}, { TEMPORAL_TLS_CLIENT_CERT_PATH: '/c.pem', TEMPORAL_TLS_CLIENT_KEY_PATH: '/k.pem', TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/ca.pem' });
  t.truthy(current.tls?.clientCertPair);
  t.truthy(current.tls?.serverRootCACertificate);
  const short = resolve({}, { TEMPORAL_TLS_CERT: '/c.pem', TEMPORAL_TLS_KEY: '/k.pem', TEMPORAL_TLS_CA: '/ca.pem', TEMPORAL_TLS_SERVER_NAME: 'n' });
  t.truthy(short.tls?.clientCertPair);
  t.is(short.tls?.serverNameOverride, 'n');
  // the flag's file is read, not the environment's (which does not exist)
  t.truthy(resolve({ 'tls-cert-path': '/c.pem', 'tls-key-path': '/k.pem' }, { TEMPORAL_TLS_CERT: '/missing.pem', TEMPORAL_TLS_KEY: '/missing.pem' }).tls);
  t.is(resolve({ 'api-key': 'flagkey' }, { TEMPORAL_API_KEY: 'envkey' }).apiKey, 'flagkey');
});

test('an API key turns TLS on unless --tls=false (as in the Temporal CLI)', (t) => {
  t.deepEqual(resolve({}, { TEMPORAL_API_KEY: 'k123' }), { apiKey: 'k123', tls: {} });
  t.deepEqual(resolve({ 'api-key': 'k123', tls: false }), { apiKey: 'k123' });
  t.deepEqual(resolve({}, { TEMPORAL_API_KEY: 'k123', TEMPORAL_TLS: 'false' }), { apiKey: 'k123' });
  t.is(describeTemporalSecurity(resolve({ 'api-key': 'k123' })), 'TLS, API key');
  t.deepEqual(temporalConnectionOptions('a:1', resolve({ 'api-key': 'k123' })), { address: 'a:1', tls: {}, apiKey: 'k123' });
});

test('bad input fails before connecting, naming the flag or variable and the file', (t) => {
  fails(t, () => resolve({ 'tls-key-path': '/k.pem' }), /^--tls-key-path is given without a client certificate: mTLS needs both --tls-cert-path and --tls-key-path$/);
  fails(t, () => resolve({ 'tls-cert-path': '/c.pem' }), /^--tls-cert-path is given without a client key/);
  fails(t, () => resolve({}, { TEMPORAL_TLS_CLIENT_CERT_PATH: '/c.pem' }), /^TEMPORAL_TLS_CLIENT_CERT_PATH is given without a client key/);
  fails(t, () => resolve({ 'tls-cert-path': '/nope.pem', 'tls-key-path': '/k.pem' }), /^--tls-cert-path \/nope\.pem: cannot read it \(no such file\)$/);
  fails(t, () => resolve({ 'tls-ca-path': '/missing-ca.pem' }), /^--tls-ca-path \/missing-ca\.pem: cannot read it \(no such file\)$/);
  fails(t, () => resolve({}, { TEMPORAL_TLS_CA: '/missing-ca.pem' }), /^TEMPORAL_TLS_CA \/missing-ca\.pem: cannot read it/);
  fails(t, () => resolve({ 'tls-cert-path': '/junk.pem', 'tls-key-path': '/k.pem' }), /^--tls-cert-path \/junk\.pem: not a PEM certificate/);
  fails(t, () => resolve({ 'tls-cert-path': '/c.pem', 'tls-key-path': '/c.pem' }), /^--tls-key-path \/c\.pem: not a PEM private key/);
  fails(t, () => resolve({ 'tls-cert-path': '/c.pem', 'tls-key-path': '/enc.pem' }), /the private key is encrypted/);
  fails(t, () => resolve({ tls: false, 'tls-ca-path': '/ca.pem' }), /^--tls=false turns TLS off, but --tls-ca-path is a TLS option: drop one or the other$/);
  fails(t, () => resolve({ 'tls-disable-host-verification': true }), /cannot skip the server certificate's host-name check; give --tls-server-name/);
  fails(t, () => resolve({}, { TEMPORAL_TLS: 'maybe' }), /^TEMPORAL_TLS="maybe" is not a boolean/);
  fails(t, () => resolve({ 'tls-server-name': ' ' }), /^--tls-server-name is empty$/);
  fails(t, () => resolve({ 'api-key': 'a b' }), /^--api-key contains whitespace/);
});

test('real files: a directory and an unreadable path are refused with the reason', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dcign-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.throws(() => resolveTemporalSecurity({ 'tls-ca-path': dir }, { env: {} }), { message: new RegExp(`^--tls-ca-path ${dir}: cannot read it \\(not a regular file\\)$`) });
  const ca = path.join(dir, 'ca.pem');
  writeFileSync(ca, CERT);
  t.truthy(resolveTemporalSecurity({ 'tls-ca-path': ca }, { env: {} }).tls?.serverRootCACertificate);
});

test('`dcign worker` takes the Temporal CLI flag names (`dcign sweep` below, through the real CLI)', async (t) => {
  const names = Object.keys(TEMPORAL_TLS_OPTIONS).sort();
  t.deepEqual(names, ['api-key', 'tls', 'tls-ca-path', 'tls-cert-path', 'tls-disable-host-verification', 'tls-key-path', 'tls-server-name']);
  const argv = ['worker', '--tls-cert-path', '/c.pem', '--tls-key-path', '/k.pem', '--tls-ca-path', '/ca.pem', '--tls-server-name', 'n', '--api-key', 'k', '--tls'];
  const parsed = await yargs(argv)
    .command({ ...workerCommand, handler: () => undefined } as never)
    .strict()
    .parseAsync();
  for (const k of names.filter((n) => n !== 'tls-disable-host-verification')) t.not(parsed[k], undefined, k);
});

// ---------------------------------------------------------------------------------------------------------------------
// A real mTLS connection: test CA, server and client certificates (openssl), a TLS proxy demanding a client certificate.

interface Pki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  otherCa: string;
}

function makePki(): Pki {
  const dir = mkdtempSync(path.join(tmpdir(), 'dcign-pki-'));
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const name of ['ca', 'other-ca']) {
    ssl('req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=dcign ${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  }
  const leaf = (name: string, cn: string, ext: string): void => {
    ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    writeFileSync(path.join(dir, `${name}.ext`), ext);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  };
  leaf('server', 'temporal.test', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:temporal.test\n');
  leaf('client', 'dcign-worker', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  const p = (f: string): string => path.join(dir, f);
  return { dir, ca: p('ca.pem'), serverCert: p('server.pem'), serverKey: p('server.key'), clientCert: p('client.pem'), clientKey: p('client.key'), otherCa: p('other-ca.pem') };
}

/** The mTLS cases need openssl (to make the CA); its absence fails them loudly, naming the set-up step. */
function requireOpenssl(): void {
  try {
    execFileSync('openssl', ['version'], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`openssl is missing (${(err as Error).message}): run scripts/setup-openssl.sh (scripts/setup.sh runs it)`);
  }
}

let server: TemporalTestServer | undefined;
let pki: Pki | undefined;
let proxy: tls.Server | undefined;
let proxyAddress = '';
const admitted: string[] = [];

test.before(async () => {
  requireOpenssl();
  pki = makePki();
  server = await startTemporal({ searchAttributes: false });
  const [host, port] = server.address.split(':') as [string, string];
  proxy = tls.createServer(
    {
      key: readFileSync(pki.serverKey),
      cert: readFileSync(pki.serverCert),
      ca: readFileSync(pki.ca),
      requestCert: true,
      rejectUnauthorized: true, // no client certificate signed by the CA: the handshake fails
      ALPNProtocols: ['h2'],
    },
    (socket) => {
      admitted.push(String(socket.getPeerCertificate().subject?.CN));
      const upstream = net.connect(Number(port), host);
      socket.pipe(upstream).pipe(socket);
      const end = (): void => {
        socket.destroy();
        upstream.destroy();
      };
      socket.on('error', end);
      upstream.on('error', end);
    },
  );
  await new Promise<void>((r) => proxy?.listen(0, '127.0.0.1', r));
  proxyAddress = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
});

test.after.always(async () => {
  proxy?.close();
  await server?.stop();
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
});

const mtls = (): NodeJS.ProcessEnv => ({
  TEMPORAL_TLS_CLIENT_CERT_PATH: pki?.clientCert,
  TEMPORAL_TLS_CLIENT_KEY_PATH: pki?.clientKey,
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: pki?.ca,
  TEMPORAL_TLS_SERVER_NAME: 'temporal.test',
});

test.serial('mTLS through a TLS proxy: Connection (client, CLI) and NativeConnection (worker) both connect', async (t) => {
  if (!pki) throw new Error('no PKI: test.before failed');
  const security = resolveTemporalSecurity({}, { env: mtls() });
  const connection = await Connection.connect({ ...temporalConnectionOptions(proxyAddress, security), connectTimeout: 10_000 });
  try {
    const info = await connection.workflowService.getSystemInfo({});
    t.truthy(info.serverVersion);
  } finally {
    await connection.close();
  }
  const native = await NativeConnection.connect(temporalConnectionOptions(proxyAddress, security));
  await native.close();
  t.true(admitted.filter((cn) => cn === 'dcign-worker').length >= 2, `proxy admitted ${admitted.join(', ')}`);
});

test.serial('the CLI over mTLS: `dcign sweep list` with the TLS flags reaches Temporal; without a client certificate it fails', async (t) => {
  if (!pki) throw new Error('no PKI: test.before failed');
  const base: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_ADDRESS: proxyAddress, DCIGN_STATE_DIR: pki.dir };
  for (const k of Object.keys(base)) if (k.startsWith('TEMPORAL_TLS') || k === 'TEMPORAL_API_KEY') delete base[k];
  const flags = ['--tls-cert-path', pki.clientCert, '--tls-key-path', pki.clientKey, '--tls-ca-path', pki.ca, '--tls-server-name', 'temporal.test'];
  const ok = await execFileAsync(process.execPath, [CLI, 'sweep', 'list', ...flags], { env: base, timeout: 60_000 }); // throws on a non-zero exit
  t.notRegex(ok.stderr, /error/i, ok.stderr);
  const admittedBefore = admitted.length;

  const noCert = await execFileAsync(process.execPath, [CLI, 'sweep', 'list', '--tls-ca-path', pki.ca, '--tls-server-name', 'temporal.test'], { env: base, timeout: 60_000 })
    .then(() => undefined)
    .catch((e: { stderr: string }) => e.stderr);
  t.log(`without a client certificate: ${noCert?.trim()}`);
  t.is(admitted.length, admittedBefore, 'the proxy admitted a connection without a client certificate');
  t.regex(noCert ?? 'succeeded without a client certificate', new RegExp(`cannot reach Temporal at ${proxyAddress} \\(TLS, own CA, server name temporal.test: `));

  const wrongCa = await execFileAsync(process.execPath, [CLI, 'sweep', 'list', ...flags.slice(0, 4), '--tls-ca-path', pki.otherCa, '--tls-server-name', 'temporal.test'], { env: base, timeout: 60_000 })
    .then(() => undefined)
    .catch((e: { stderr: string }) => e.stderr);
  t.log(`server certificate from another CA: ${wrongCa?.trim()}`);
  t.regex(wrongCa ?? 'succeeded with a server certificate from another CA', /cannot reach Temporal at/);

  const keyOnly = await execFileAsync(process.execPath, [CLI, 'sweep', 'list', '--tls-key-path', pki.clientKey], { env: base, timeout: 60_000 })
    .then(() => undefined)
    .catch((e: { stderr: string }) => e.stderr);
  t.regex(keyOnly ?? 'succeeded', /^error: --tls-key-path is given without a client certificate/m);
});
