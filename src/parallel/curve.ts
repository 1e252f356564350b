// Optional ZeroMQ CURVE encryption and authentication for the ring (RFC 26/CurveZMQ, RFC 27/ZAP).
// Each rank's receiving socket is a CURVE server that admits only its left neighbour's public key (checked by a ZAP
// handler in this process); its sending socket is a CURVE client that trusts only its right neighbour's public key.
// Keys are Z85 strings as made by `zmq.curveKeyPair()`.
import { readFileSync } from 'node:fs';
import * as zmq from 'zeromq';

export interface CurveKeys {
  readonly publicKey: string;
  readonly secretKey: string;
  /** Public key of every rank, indexed by rank. */
  readonly peerPublicKeys: readonly string[];
}

/** Where to read keys from; files take precedence over the environment. */
export interface CurveKeySources {
  readonly secretKeyFile?: string;
  readonly publicKeyFile?: string;
  /** One Z85 public key per line, line i for rank i (blank lines and '#' comment lines ignored). */
  readonly peerKeysFile?: string;
  readonly peerPublicKeys?: readonly string[];
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
