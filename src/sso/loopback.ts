// The loopback redirect listener of the browser sign-in (RFC 8252 7.3): an HTTP server on
// 127.0.0.1 and an ephemeral port that waits for the one redirect carrying the
// authorization code. node:http is all it takes; a framework would only widen what the
// listener accepts. Everything is checked, because any local process and any web page the
// person has open can send requests to it:
// - only GET /oauth/callback; the Host header must be 127.0.0.1:<port> (a page that
//   rebinds a DNS name to 127.0.0.1 sends its own name);
// - the `state` must be the one sent, compared in constant time; a wrong one is refused and
//   the listener keeps waiting for the real redirect;
// - request lines and headers are bounded, requests time out, a handful of connections;
// - one code is accepted, then the listener closes.
// The page shown in the browser waits for the token exchange, so it tells the truth.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KeyroleError } from '../util/errors.ts';
import { printable } from '../util/printable.ts';
import { debug } from '../util/debug.ts';
import { formatDuration } from '../util/duration.ts';
import { sameSecret } from './pkce.ts';

export const CALLBACK_PATH = '/oauth/callback';
/** What is registered with the client: the loopback address without a port (any port matches). */
export const REGISTERED_REDIRECT = `http://127.0.0.1${CALLBACK_PATH}`;
const MAX_URL = 4096;

/** The redirect with a code and the right state; `finish` answers the browser and closes the listener. */
export interface Callback {
  code: string;
  finish(ok: boolean, text: string): void;
}

export interface Loopback {
  /** http://127.0.0.1:<port>/oauth/callback */
  redirectUri: string;
  /** The redirect, or a KeyroleError: the person denied, or the time ran out. */
  callback: Promise<Callback>;
  /** Requests refused so far (wrong path, host, state...). */
  refused(): number;
  close(): void;
}

const esc = (t: string) => t.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The small page the browser shows: no scripts, no outside resources, nothing cached or referred. */
export function resultPage(ok: boolean, text: string): string {
  const title = ok ? 'Signed in' : 'Sign-in failed';
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>keyrole: ${title}</title></head>
<body style="font-family:sans-serif;margin:3em"><h1>keyrole: ${title}</h1><p>${esc(text)}</p></body></html>\n`;
}

function send(res: ServerResponse, status: number, ok: boolean, text: string, extra: Record<string, string> = {}): void {
  const body = resultPage(ok, text);
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
    'X-Frame-Options': 'DENY',
    Connection: 'close',
    ...extra,
  });
  res.end(body);
}

/** What a code may look like: printable, no spaces, bounded. */
const CODE = /^[\x21-\x7e]{1,2048}$/;

export async function startLoopback(o: { state: string; timeoutMs: number }): Promise<Loopback> {
  let refused = 0;
  let accepted = false;
  let settle!: { resolve: (c: Callback) => void; reject: (e: Error) => void };
  const callback = new Promise<Callback>((resolve, reject) => { settle = { resolve, reject }; });
  // Nobody may be left waiting on an unhandled rejection if the caller stopped listening.
  callback.catch(() => {});
  const server = createServer({ maxHeaderSize: 8192, requestTimeout: 15_000, headersTimeout: 10_000, keepAliveTimeout: 1000 });
  server.maxConnections = 16;
  let port = 0;
  // The last page (the answer to the accepted redirect) is sent whole before the
  // connections are cut; a browser that never reads it is cut after a few seconds.
  let last: ServerResponse | undefined;
  const close = () => {
    clearTimeout(timer);
    server.close();
    if (last && !last.writableFinished) {
      last.once('close', () => server.closeAllConnections());
      setTimeout(() => server.closeAllConnections(), 3000).unref();
    } else {
      server.closeAllConnections();
    }
  };
  const closeAfter = (res: ServerResponse) => {
    last = res;
    close();
  };
  const refuse = (res: ServerResponse, status: number, why: string, extra?: Record<string, string>) => {
    refused++;
    debug(`the sign-in listener refused a request: ${why}`);
    send(res, status, false, why, extra);
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (accepted) return refuse(res, 410, 'This sign-in is already complete.');
    if (req.method !== 'GET') return refuse(res, 405, 'Only GET is accepted here.', { Allow: 'GET' });
    if (req.headers.host !== `127.0.0.1:${port}`) return refuse(res, 400, 'Wrong Host header.');
    const raw = req.url ?? '';
    if (raw.length > MAX_URL) return refuse(res, 414, 'The request is too long.');
    let url: URL;
    try {
      url = new URL(raw, `http://127.0.0.1:${port}`);
    } catch {
      return refuse(res, 400, 'Not a URL.');
    }
    if (url.pathname !== CALLBACK_PATH || url.origin !== `http://127.0.0.1:${port}`) return refuse(res, 404, 'Nothing here.');
    const q = url.searchParams;
    for (const k of ['state', 'code', 'error']) if (q.getAll(k).length > 1) return refuse(res, 400, `The parameter ${k} came more than once.`);
    // Before anything else, even an error: only the redirect of this sign-in may end it.
    if (!sameSecret(q.get('state'), o.state)) return refuse(res, 400, 'This answer does not belong to the sign-in keyrole started (its state differs). Nothing was done.');
    const error = q.get('error');
    if (error !== null) {
      accepted = true;
      const detail = printable(q.get('error_description') ?? error).slice(0, 300);
      send(res, 200, false, `IAM Identity Center answered: ${detail}. You can close this tab.`);
      closeAfter(res);
      settle.reject(Object.assign(new Error(detail), { name: error === 'access_denied' ? 'AccessDeniedException' : 'InvalidRequestException' }));
      return;
    }
    const code = q.get('code');
    if (code === null || !CODE.test(code)) return refuse(res, 400, 'The answer carries no usable code.');
    accepted = true;
    clearTimeout(timer);
    settle.resolve({
      code,
      finish(ok, text) {
        send(res, 200, ok, text);
        closeAfter(res);
      },
    });
  });
  server.on('clientError', (_err, socket) => {
    refused++;
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const timer = setTimeout(() => {
    close();
    settle.reject(new KeyroleError('SsoLoginTimeout', `the browser sign-in did not come back within ${formatDuration(o.timeoutMs, 's')}`, 'run keyrole login again and approve the request in the browser in time (--use-device-code signs in with a code instead)'));
  }, o.timeoutMs);
  debug(`the sign-in listener waits on 127.0.0.1:${port}${CALLBACK_PATH}`);
  return { redirectUri: `http://127.0.0.1:${port}${CALLBACK_PATH}`, callback, refused: () => refused, close };
}
