// Optional ZeroMQ CURVE encryption and authentication for the ring (RFC 26/CurveZMQ, RFC 27/ZAP).
// Each rank's receiving socket is a CURVE server that admits only its left neighbour's public key (checked by a ZAP
// handler in this process); its sending socket is a CURVE client that trusts only its right neighbour's public key.
// Keys are Z85 strings as made by `zmq.curveKeyPair()`.
//
// Two ways to key a group: per-rank key pairs (DCIGN_CURVE_*: each rank its own pair plus every rank's public key),
// or one cluster key pair that every host of a cluster holds in a file (`dcign cluster keygen`; DCIGN_CLUSTER_KEY_FILE
// or `dcign worker --cluster-key`): every replica then presents the cluster key and admits only peers presenting it.
// Keys travel only as files on each host, never through Temporal or MLflow.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import * as zmq from 'zeromq';

export interface CurveKeys {
  readonly publicKey: string;
  readonly secretKey: string;
  /** Public key of every rank, indexed by rank; with a cluster key, the one key every rank presents. */
  readonly peerPublicKeys: readonly string[];
  /** The cluster key pair: every rank presents publicKey, whatever the group's size. */
  readonly cluster?: boolean;
}

/** Where to read keys from; files take precedence over the environment. */
export interface CurveKeySources {
  readonly secretKeyFile?: string;
  readonly publicKeyFile?: string;
  /** One Z85 public key per line, line i for rank i (blank lines and '#' comment lines ignored). */
  readonly peerKeysFile?: string;
  readonly peerPublicKeys?: readonly string[];
  /** The cluster key file (`dcign cluster keygen`); alternative to the per-rank keys. */
  readonly clusterKeyFile?: string;
}

const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

function checkKey(key: string, what: string): string {
  const k = key.trim();
  if (!Z85_KEY.test(k)) throw new Error(`${what} is not a 40-character Z85 CURVE key (make one with zmq.curveKeyPair())`);
  return k;
}

function readKeyFile(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${what} from ${path}: ${(err as Error).message}`);
  }
  return checkKey(text, `${what} in ${path}`);
}

/** Parses a peer key list: one key per line (or comma-separated), ordered by rank. */
export function parsePeerKeys(text: string, where: string): string[] {
  return text
    .split(/[\n,]/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !(l.startsWith('#') && l.length !== 40))
    .map((k, i) => checkKey(k, `public key of rank ${i} in ${where}`));
}

/**
 * Loads CURVE keys from files or, failing that, from DCIGN_CURVE_SECRET_KEY, DCIGN_CURVE_PUBLIC_KEY and
 * DCIGN_CURVE_PEER_KEYS (comma-separated, by rank) or DCIGN_CURVE_PEER_KEYS_FILE. Returns undefined when no key is
 * configured at all (plain TCP); throws when the configuration is partial.
 */
export function loadCurveKeys(src: CurveKeySources = {}, env: NodeJS.ProcessEnv = process.env): CurveKeys | undefined {
  const clusterFile = src.clusterKeyFile ?? env.DCIGN_CLUSTER_KEY_FILE;
  if (clusterFile) {
    const perRank = src.secretKeyFile ?? src.publicKeyFile ?? src.peerKeysFile ?? src.peerPublicKeys ?? env.DCIGN_CURVE_SECRET_KEY ?? env.DCIGN_CURVE_PUBLIC_KEY;
    if (perRank !== undefined) {
      throw new Error(`both a cluster key (${clusterFile}) and per-rank CURVE keys (DCIGN_CURVE_*) are configured: use one of them`);
    }
    const pair = readClusterKeyFile(clusterFile);
    return { ...pair, peerPublicKeys: [pair.publicKey], cluster: true };
  }
  const secret = src.secretKeyFile
    ? readKeyFile(src.secretKeyFile, 'CURVE secret key')
    : env.DCIGN_CURVE_SECRET_KEY
      ? checkKey(env.DCIGN_CURVE_SECRET_KEY, 'DCIGN_CURVE_SECRET_KEY')
      : undefined;
  const pub = src.publicKeyFile
    ? readKeyFile(src.publicKeyFile, 'CURVE public key')
    : env.DCIGN_CURVE_PUBLIC_KEY
      ? checkKey(env.DCIGN_CURVE_PUBLIC_KEY, 'DCIGN_CURVE_PUBLIC_KEY')
      : undefined;
  const peersFile = src.peerKeysFile ?? env.DCIGN_CURVE_PEER_KEYS_FILE;
  let peers: string[] | undefined;
  if (src.peerPublicKeys) peers = src.peerPublicKeys.map((k, i) => checkKey(k, `public key of rank ${i}`));
  else if (peersFile) {
    let text: string;
    try {
      text = readFileSync(peersFile, 'utf8');
    } catch (err) {
      throw new Error(`cannot read CURVE peer keys from ${peersFile}: ${(err as Error).message}`);
    }
    peers = parsePeerKeys(text, peersFile);
  } else if (env.DCIGN_CURVE_PEER_KEYS) peers = parsePeerKeys(env.DCIGN_CURVE_PEER_KEYS, 'DCIGN_CURVE_PEER_KEYS');
  if (secret === undefined && pub === undefined && peers === undefined) return undefined;
  if (secret === undefined || pub === undefined || peers === undefined) {
    throw new Error(
      'incomplete CURVE configuration: need the secret key, the public key and every rank\'s public key ' +
        '(DCIGN_CURVE_SECRET_KEY, DCIGN_CURVE_PUBLIC_KEY, DCIGN_CURVE_PEER_KEYS[_FILE], or the matching files)',
    );
  }
  return { publicKey: pub, secretKey: secret, peerPublicKeys: peers };
}

/** The public key rank `rank` presents (with a cluster key, the same for all). */
export function peerKey(keys: CurveKeys, rank: number): string | undefined {
  return keys.cluster ? keys.publicKey : keys.peerPublicKeys[rank];
}

// ---- cluster key file --------------------------------------------------------------------------------------------

const CLUSTER_KEY_HEADER = '# dcign cluster key (CurveZMQ). Every host holding this file can join the cluster\'s rings: keep it mode 0600.';

/** The text of a cluster key file. */
export function formatClusterKey(pair: { publicKey: string; secretKey: string }): string {
  return `${CLUSTER_KEY_HEADER}\npublic=${pair.publicKey}\nsecret=${pair.secretKey}\n`;
}

/** Parses a cluster key file's text (`public=` and `secret=` lines); throws naming what is missing. */
export function parseClusterKey(text: string, where: string): { publicKey: string; secretKey: string } {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (l === '' || l.startsWith('#')) continue;
    const eq = l.indexOf('=');
    if (eq < 0) throw new Error(`${where}: line ${JSON.stringify(l.slice(0, 20))}... is not key=value; make the file with \`dcign cluster keygen\``);
    fields.set(l.slice(0, eq).trim(), l.slice(eq + 1).trim());
  }
  const pub = fields.get('public');
  const sec = fields.get('secret');
  if (pub === undefined || sec === undefined) throw new Error(`${where} lacks a ${pub === undefined ? 'public=' : 'secret='} line; make the file with \`dcign cluster keygen\``);
  const pair = { publicKey: checkKey(pub, `public key in ${where}`), secretKey: checkKey(sec, `secret key in ${where}`) };
  // a secret key that does not belong to the public key would fail every handshake with a vague error later
  if (curvePublicKeyOf(pair.secretKey) !== pair.publicKey) throw new Error(`${where}: the public key does not belong to the secret key; make a new file with \`dcign cluster keygen\``);
  return pair;
}

/** The public key of a Z85 CURVE secret key (X25519). */
export function curvePublicKeyOf(secretKey: string): string {
  const d = z85Decode(secretKey).toString('base64url');
  const pub = createPublicKey(createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d, x: '' }, format: 'jwk' }));
  const x = (pub.export({ format: 'jwk' }) as { x?: string }).x ?? '';
  return z85Encode(Buffer.from(x, 'base64url'));
}

/** Reads a cluster key file; refuses one that others can read (like ssh with private keys). */
export function readClusterKeyFile(path: string): { publicKey: string; secretKey: string } {
  let text: string;
  let mode: number;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the cluster key from ${path}: ${(err as Error).message} (make one with \`dcign cluster keygen --out ${path}\`)`);
  }
  if ((mode & 0o077) !== 0) {
    throw new Error(`the cluster key ${path} is readable by other users (mode ${(mode & 0o777).toString(8)}): run \`chmod 600 ${path}\``);
  }
  return parseClusterKey(text, path);
}

/** Writes a fresh cluster key file (mode 0600); refuses to replace an existing one unless `overwrite`. */
export function writeClusterKeyFile(path: string, overwrite = false): { publicKey: string } {
  const pair = zmq.curveKeyPair();
  try {
    writeFileSync(path, formatClusterKey(pair), { mode: 0o600, flag: overwrite ? 'w' : 'wx' });
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') throw new Error(`${path} exists: every host of the cluster must use the same file; pass --force to replace it`);
    throw new Error(`cannot write the cluster key to ${path}: ${(err as Error).message}`);
  }
  return { publicKey: pair.publicKey };
}

/** A fresh key pair. */
export function generateCurveKeyPair(): { publicKey: string; secretKey: string } {
  return zmq.curveKeyPair();
}

// ---- ZAP handler -------------------------------------------------------------------------------------------------
// libzmq asks "inproc://zeromq.zap.01" in the socket's context whether a CURVE client may connect. One handler serves
// the whole process; each receiving socket gets its own ZAP domain with the set of keys it admits.

const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';
const allowed = new Map<string, { keys: Set<string>; onReject: (address: string, key: string) => void }>();
let handler: Promise<zmq.Router> | undefined;
let handlerSock: zmq.Router | undefined;
let domainCounter = 0;

const Z85_CHARS = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';

/** Z85 (ZeroMQ RFC 32) encoding of a byte string whose length is a multiple of 4. */
export function z85Encode(data: Uint8Array): string {
  if (data.length % 4 !== 0) throw new RangeError('z85Encode needs a multiple of 4 bytes');
  let out = '';
  for (let i = 0; i < data.length; i += 4) {
    let v = ((data[i] ?? 0) * 2 ** 24 + ((data[i + 1] ?? 0) << 16) + ((data[i + 2] ?? 0) << 8) + (data[i + 3] ?? 0)) >>> 0;
    const block: string[] = [];
    for (let j = 0; j < 5; j++) {
      block.push(Z85_CHARS[v % 85] ?? '');
      v = Math.floor(v / 85);
    }
    out += block.reverse().join('');
  }
  return out;
}

/** Z85 decoding (ZeroMQ RFC 32) of a string whose length is a multiple of 5. */
export function z85Decode(text: string): Buffer {
  if (text.length % 5 !== 0) throw new RangeError('z85Decode needs a multiple of 5 characters');
  const out = Buffer.alloc((text.length / 5) * 4);
  for (let i = 0; i < text.length; i += 5) {
    let v = 0;
    for (let j = 0; j < 5; j++) {
      const c = Z85_CHARS.indexOf(text[i + j] ?? '');
      if (c < 0) throw new RangeError(`not a Z85 character: ${JSON.stringify(text[i + j])}`);
      v = v * 85 + c;
    }
    out.writeUInt32BE(v >>> 0, (i / 5) * 4);
  }
  return out;
}

async function serveZap(sock: zmq.Router): Promise<void> {
  for (;;) {
    let req: Buffer[];
    try {
      req = await sock.receive();
    } catch {
      return; // closed
    }
    // [routing id, empty delimiter, version, request id, domain, address, identity, mechanism, credentials...]
    const [id, delim, version, requestId, domain, address, , mechanism, clientKey] = req;
    if (!id || !delim || !version || !requestId) continue;
    let status = '400';
    let text = 'denied';
    const entry = domain ? allowed.get(domain.toString()) : undefined;
    if (version.toString() !== '1.0') {
      status = '500';
      text = 'unsupported ZAP version';
    } else if (entry && mechanism?.toString() === 'CURVE' && clientKey && clientKey.length === 32) {
      const z85 = z85Encode(clientKey);
      if (entry.keys.has(z85)) {
        status = '200';
        text = 'OK';
      } else entry.onReject(address?.toString() ?? '?', z85);
    }
    try {
      await sock.send([id, delim, '1.0', requestId, status, text, '', '']);
    } catch {
      return;
    }
  }
}

/** Registers a ZAP domain admitting the given client keys; returns the domain and a function that removes it. */
export async function registerZapDomain(
  keys: readonly string[],
  onReject: (address: string, key: string) => void,
): Promise<{ domain: string; release: () => void }> {
  handler ??= (async () => {
    const sock = new zmq.Router({ linger: 0 });
    await sock.bind(ZAP_ENDPOINT);
    handlerSock = sock;
    void serveZap(sock);
    return sock;
  })();
  await handler;
  const domain = `dcign-${process.pid}-${++domainCounter}`;
  allowed.set(domain, { keys: new Set(keys), onReject });
  return {
    domain,
    release: () => {
      allowed.delete(domain);
      if (allowed.size === 0 && handlerSock) {
        handlerSock.close();
        handlerSock = undefined;
        handler = undefined;
      }
    },
  };
}
