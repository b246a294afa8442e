// The local credential endpoint of `exec --server` and `serve`: the container-credentials
// protocol (the SDKs' container credential provider) that every AWS SDK and the AWS CLI speak, so a program that runs for
// hours asks again before its credentials expire instead of keeping frozen keys from its
// environment. Written on node:http because the protocol is one GET with one header; the
// SDKs only have the client side.
//
// Who may ask: the request must carry the run's random token verbatim in `Authorization`
// (compared in constant time), and its Host header must be the address the endpoint listens
// on, so a web page that rebinds a DNS name to 127.0.0.1 gets nothing (aws-vault checks the
// same). It listens on 127.0.0.1 only, on an ephemeral port unless one is asked for.
//
// What a client shows when it gets no credentials: every refusal and failure is a 4xx with a
// JSON body {"Code", "Message"}, Message being keyrole's one line. That is the one shape all
// clients print: botocore (boto3, the AWS CLI v1 and v2) puts the whole body of any non-200
// answer in its error; the JS SDK v3's fromHttp reads capitalised Code and Message, and only
// from a 4xx (a 5xx gives nothing but "Server responded with status: 500"); the Go SDK v2
// (endpointcreds) decodes `code` and `message`, which Go's JSON decoder matches without
// regard to case. 5xx is not used: its only gain, the Go SDK retrying at once, is worth less
// than the reason, and every SDK asks again at its next call anyway. Statuses: 403 for a
// request refused (token, Host), 404 for a path or method keyrole does not serve, 424
// (Failed Dependency) when keyrole could not get the credentials. keyrole's own stderr says
// why each request was refused or failed (the same line at most once a minute: an SDK
// retries).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { isoSeconds } from '../credentials/blob.ts';
import { KeyroleError } from '../util/errors.ts';
import { printable } from '../util/printable.ts';

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
  /** Told once per refused or failed request, with keyrole's one-line cause. */
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

/** What every client prints of a refusal or failure (see the module comment). */
export function errorBody(e: KeyroleError): string {
  return JSON.stringify({ Code: e.code, Message: e.line() });
}

/** Why a request is refused (its Host header, its token), or undefined when it may be answered. */
function refusal(req: IncomingMessage, host: string, token: Buffer): KeyroleError | undefined {
  const fix = 'give the client the endpoint\'s address and token as keyrole printed them (keyrole doctor, run in the client\'s environment, says which variables it needs)';
  if (req.headers.host !== host) {
    const given = req.headers.host === undefined ? 'no Host header' : `Host header "${printable(req.headers.host).slice(0, 80)}"`;
    return new KeyroleError('EndpointRefused', `refused a request with ${given}, not ${host} (a web page rebinding a name to this machine looks like this)`, fix);
  }
  const given = req.headers.authorization;
  if (given === undefined) return new KeyroleError('EndpointRefused', 'refused a request without an Authorization header: the client did not send the endpoint\'s token', fix);
  if (!sameToken(given, token)) return new KeyroleError('EndpointRefused', 'refused a request whose Authorization header is not this endpoint\'s token (an old one, or one of another keyrole)', fix);
  return undefined;
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
    const send = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(body);
    };
    const fail = (status: number, e: KeyroleError) => {
      o.onError(e);
      send(status, errorBody(e));
    };
    const refused = refusal(req, host, tokenBytes);
    if (refused) return fail(403, refused);
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/') {
      return fail(404, new KeyroleError('EndpointRefused', `refused a ${printable(req.method ?? '').slice(0, 10)} request for ${printable((req.url ?? '').split('?')[0]).slice(0, 80)}: keyrole serves credentials at / only (GET)`, 'point AWS_CONTAINER_CREDENTIALS_FULL_URI at the address keyrole printed'));
    }
    answer().then(
      (c) => send(200, credentialsJson(c)),
      (err: unknown) => fail(424, err instanceof KeyroleError ? err : new KeyroleError('EndpointFailed', `could not get credentials (${printable((err as Error).message)})`, 'run keyrole process with --debug to see why')),
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
