// The local credential endpoint of `exec --server` and `serve`: the container-credentials
// protocol (the SDKs' container credential provider) that every AWS SDK and the AWS CLI speak, so a program that runs for
// hours asks again before its credentials expire instead of keeping frozen keys from its
// environment. Written on node:http because the protocol is one GET with one header; the
// SDKs only have the client side.
//
// Who may ask: the request must carry the run's random token verbatim in `Authorization`
// (compared in constant time), and its Host header must be the address the endpoint listens
// on, so a web page that rebinds a DNS name to 127.0.0.1 gets nothing (aws-vault checks the
// same). Anything else gets 403 with an empty body. It listens on 127.0.0.1 only, on an
// ephemeral port unless one is asked for.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { isoSeconds } from '../credentials/blob.ts';
import { KeyroleError, isTransient } from '../util/errors.ts';
import { debug } from '../util/debug.ts';

export interface ServedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  /** In the local clock's frame, as the SDK in the child judges it. */
  expiration: Date;
  accountId?: string;
}

export interface EndpointOptions {
  /** The credentials for one request: keyrole's cache, single flight and STS behind it. */
  provide(): Promise<ServedCredentials>;
  /** Told once per failed request, with keyrole's one-line cause. */
  onError(err: KeyroleError): void;
  /** A fixed port (`serve --port`); 0 or undefined for an ephemeral one. */
  port?: number;
}

export interface Endpoint {
  /** AWS_CONTAINER_CREDENTIALS_FULL_URI. */
  url: string;
  /** AWS_CONTAINER_AUTHORIZATION_TOKEN. */
  token: string;
  port: number;
  close(): Promise<void>;
}

const HOST = '127.0.0.1';

/** A fresh random token for one run: 32 bytes, base64url (43 characters). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

function sameToken(given: string | undefined, token: Buffer): boolean {
  if (given === undefined) return false;
  const b = Buffer.from(given, 'utf8');
  return b.length === token.length && timingSafeEqual(b, token);
}

/** The answer's JSON, as the ECS agent gives it. */
export function credentialsJson(c: ServedCredentials): string {
  const out: Record<string, string> = {
    AccessKeyId: c.accessKeyId,
    SecretAccessKey: c.secretAccessKey,
    Token: c.sessionToken,
    Expiration: isoSeconds(c.expiration),
  };
  if (c.accountId) out.AccountId = c.accountId;
  return JSON.stringify(out);
}

export async function startEndpoint(o: EndpointOptions): Promise<Endpoint> {
  const token = newToken();
  const tokenBytes = Buffer.from(token, 'utf8');
  // Requests that arrive together share one answer: one cache read, or one STS call.
  let inflight: Promise<ServedCredentials> | undefined;
  const answer = () => (inflight ??= o.provide().finally(() => { inflight = undefined; }));
  let host = '';

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const send = (status: number, body = '') => {
      res.writeHead(status, body ? { 'content-type': 'application/json', 'cache-control': 'no-store' } : { 'content-length': '0' });
      res.end(body);
    };
    if (req.headers.host !== host || !sameToken(req.headers.authorization, tokenBytes)) {
      debug(`endpoint: refused a request (${req.headers.host !== host ? 'Host header' : 'token'})`);
      return send(403);
    }
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/') {
      return send(404, JSON.stringify({ code: 'NotFound', message: 'keyrole serves credentials at / only (GET)' }));
    }
    answer().then(
      (c) => send(200, credentialsJson(c)),
      (err: unknown) => {
        const e = err instanceof KeyroleError ? err : new KeyroleError('EndpointFailed', `could not get credentials (${(err as Error).message})`, 'run keyrole process with --debug to see why');
        o.onError(e);
        // botocore and the JS SDK show the body of a non-200 answer in their error.
        send(isTransient(e) ? 503 : 500, JSON.stringify({ code: e.code, message: e.line() }));
      },
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE'
      ? new KeyroleError('PortInUse', `port ${o.port} on ${HOST} is in use`, 'choose another with --port, or leave it out for a free one')
      : new KeyroleError('EndpointFailed', `cannot listen on ${HOST} (${err.code ?? err.message})`, 'check the port')));
    server.listen(o.port ?? 0, HOST, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  host = `${HOST}:${port}`;
  return {
    url: `http://${host}/`,
    token,
    port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
