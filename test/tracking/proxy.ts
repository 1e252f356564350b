// A small real HTTP proxy in front of an MLflow server, for what the server itself will not do on demand: demand a
// bearer token, or lose the response of a request after the server has applied it.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface ProxyOptions {
  target: string;
  /** When set, requests without `Authorization: Bearer <token>` get 401, as an auth gateway would answer. */
  token?: string;
  /** Called per request; returning true forwards the request but destroys the client's socket instead of answering. */
  loseResponse?: (method: string, url: string) => boolean;
  /** Serve HTTPS with this key and certificate (PEM). */
  tls?: { key: string; cert: string };
}

export interface Proxy {
  uri: string;
  close(): Promise<void>;
}

export async function startProxy(o: ProxyOptions): Promise<Proxy> {
  const target = new URL(o.target);
  const handler: http.RequestListener = (req, res) => {
    if (o.token !== undefined && req.headers.authorization !== `Bearer ${o.token}`) {
      req.resume();
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error_code: 'UNAUTHENTICATED', message: 'a valid bearer token is required' }));
      return;
    }
    const lose = o.loseResponse?.(req.method ?? 'GET', req.url ?? '') ?? false;
    const up = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        if (lose) {
          upRes.resume();
          upRes.on('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  };
  const server = o.tls ? https.createServer(o.tls, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    uri: `${o.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
