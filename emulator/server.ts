import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { handleControl } from './control.ts';
import { StsError } from './errors.ts';
import { DEFAULT_SEED } from './seed.ts';
import type { Seed } from './seed.ts';
import { peekAccessKeyId } from './sigv4.ts';
import type { SignedRequest } from './sigv4.ts';
import { EmulatorState } from './state.ts';
import type { Fault, RequestRecord } from './state.ts';
import { authenticate, dispatch, isoSeconds } from './sts.ts';
import { carried } from './carried.ts';
import { dispatchIam, IAM_NAMESPACE, isIamRequest } from './iam.ts';
import { errorXml, STS_NAMESPACE } from './xml.ts';
import { handleSso } from './sso.ts';
import { handleSignin } from './signin.ts';
import { handleLogin } from './login.ts';
import { jsonReply, type Reply } from './http.ts';

export { DEFAULT_SEED };
export type { Seed };
export { EmulatorState };

export interface EmulatorOptions {
  /** 0 or omitted: an ephemeral port. Always bound to 127.0.0.1. */
  port?: number;
  seed?: Seed;
  latencyMs?: number;
  clockOffsetMs?: number;
  /** Default true. When false, one line per STS request goes to stderr (never secrets). */
  quiet?: boolean;
}

export interface RunningEmulator {
  url: string;
  port: number;
  state: EmulatorState;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BodyTooLarge());
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function toSignedRequest(req: IncomingMessage, url: URL, body: Buffer): SignedRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const rawPath = (req.url ?? '/').split('?')[0] || '/';
  return { method: req.method ?? 'GET', path: rawPath, query, headers, body };
}

/** Operation parameters: the query string, plus a form-encoded body for POST. */
function stsParams(url: URL, body: Buffer): URLSearchParams {
  const params = new URLSearchParams(url.search);
  if (body.length > 0) {
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params.set(k, v);
  }
  return params;
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const state = new EmulatorState({
    seed: options.seed ?? DEFAULT_SEED,
    ...(options.latencyMs !== undefined ? { latencyMs: options.latencyMs } : {}),
    ...(options.clockOffsetMs !== undefined ? { clockOffsetMs: options.clockOffsetMs } : {}),
  });
  const quiet = options.quiet ?? true;
  const sockets = new Set<Socket>();
  // Aborted on close so latency waits and hung requests never keep the process alive.
  const closing = new AbortController();

  const send = (res: ServerResponse, status: number, contentType: string, body: string, requestId?: string): void => {
    if (res.writableEnded || res.destroyed) return;
    res.statusCode = status;
    if (requestId !== undefined) res.setHeader('x-amzn-RequestId', requestId);
    // The SDKs derive their clock offset from this header, so it must follow the shifted clock.
    res.setHeader('Date', new Date(state.now()).toUTCString());
    res.setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(body);
  };

  /** A reply of the JSON and browser services (emulator/http.ts). */
  const reply = (res: ServerResponse, r: Reply): void => {
    for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
    send(res, r.status, r.contentType, r.body, r.requestId);
  };

  /** An STS or IAM error in the shape the emulator is set to answer in (Behaviour.errorShape). */
  const sendError = (res: ServerResponse, status: number, type: string, code: string, message: string, requestId: string, ns?: string): void => {
    const shape = state.behaviour.errorShape;
    if (shape !== 'aws' && !res.writableEnded && !res.destroyed) res.setHeader('X-Amzn-ErrorType', `${code}:http://internal.amazon.com/coral/com.amazon.coral.service/`);
    send(res, status, 'text/xml', shape === 'header' ? '' : errorXml(type, code, message, requestId, ns, shape), requestId);
  };

  const delay = (ms: number): Promise<void> =>
    ms <= 0
      ? Promise.resolve()
      : new Promise((resolve, reject) => {
          const t = setTimeout(resolve, ms);
          closing.signal.addEventListener('abort', () => {
            clearTimeout(t);
            reject(new Error('emulator closing'));
          }, { once: true });
        });

  const log = (rec: RequestRecord, startedAt: number): void => {
    if (quiet) return;
    const outcome = rec.ok ? 'OK' : `${rec.code ?? rec.fault ?? 'error'}`;
    const extra = rec.roleArn ? ` ${rec.roleArn}` : '';
    process.stderr.write(
      `${rec.time} ${rec.action || '-'} ${rec.accessKeyId ?? '-'} ${rec.status} ${outcome}${extra} ${Date.now() - startedAt}ms\n`,
    );
  };

  /** An STS or IAM answer waits its latency, then while the test holds answers (holdSts). */
  async function stsAnswerDue(): Promise<void> {
    await delay(state.behaviour.latencyMs);
    await state.stsGate();
  }

  async function applyFault(fault: Fault, res: ServerResponse, action: string, requestId: string): Promise<number> {
    switch (fault.kind) {
      case 'reset':
        res.socket?.resetAndDestroy();
        return 0;
      case 'hang':
        // Never answer; the socket is destroyed when the emulator closes.
        return 0;
      case 'badxml':
        await stsAnswerDue();
        send(res, 200, 'text/xml', `<${action}Response xmlns="${STS_NAMESPACE}">\n  <${action}Result>\n    <Credentials>\n      <AccessKeyId>ASIA`, requestId);
        return 200;
      case 'wrongContentType':
        // What a captive portal or corporate proxy hands back instead of STS.
        await stsAnswerDue();
        send(res, 200, 'text/html; charset=utf-8', '<!DOCTYPE html><html><head><title>Sign in to network</title></head><body>Please sign in.</body></html>\n', requestId);
        return 200;
      case 'error': {
        const code = fault.code ?? 'InternalFailure';
        const status = fault.status ?? (code === 'Throttling' ? 400 : 500);
        const message = fault.message ?? (code === 'Throttling' ? 'Rate exceeded' : 'An internal error has occurred');
        await stsAnswerDue();
        sendError(res, status, status >= 500 ? 'Receiver' : 'Sender', code, message, requestId);
        return status;
      }
    }
  }

  async function handleSts(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): Promise<void> {
    const startedAt = Date.now();
    const requestId = randomUUID();
    const signed = toSignedRequest(req, url, body);
    const params = stsParams(url, body);
    const action = params.get('Action') ?? '';
    const durationRaw = params.get('DurationSeconds');
    const rec: RequestRecord = {
      action,
      accessKeyId: peekAccessKeyId(signed),
      ok: false,
      status: 0,
      time: isoSeconds(state.now()),
      ...(params.get('RoleArn') !== null ? { roleArn: params.get('RoleArn')! } : {}),
      ...(durationRaw !== null && /^\d+$/.test(durationRaw) ? { durationSeconds: Number(durationRaw) } : {}),
    };
    const sent = carried(action, params);
    if (sent) rec.carried = sent;

    // Faults model infrastructure trouble, so they strike before any AWS-side checks.
    const fault = state.takeFault(action);
    if (fault) {
      rec.fault = fault.kind;
      rec.status = await applyFault(fault, res, action, requestId);
      if (fault.kind === 'error') rec.code = fault.code ?? 'InternalFailure';
      state.record(rec);
      log(rec, startedAt);
      return;
    }

    let status = 200;
    let xml: string;
    let failed: StsError | undefined;
    // IAM shares STS's Query protocol; the credential scope (or Version) says which it is.
    const iam = isIamRequest(signed, params);
    try {
      if (req.method !== 'POST' && req.method !== 'GET') {
        throw new StsError('InvalidAction', `Could not find operation ${action} for method ${req.method}`, 400);
      }
      const caller = await authenticate(state, signed, iam ? 'iam' : 'sts');
      xml = iam ? dispatchIam(state, caller, params, requestId) : dispatch(state, caller, params, requestId);
      rec.ok = true;
    } catch (err) {
      const e = err instanceof StsError ? err : new StsError('InternalFailure', 'An internal error has occurred', 500);
      if (!(err instanceof StsError) && !quiet) process.stderr.write(`emulator: internal error: ${String(err)}\n`);
      status = e.status;
      rec.code = e.code;
      failed = e;
      xml = '';
    }
    rec.status = status;
    state.record(rec);
    await stsAnswerDue();
    if (failed) sendError(res, status, failed.type, failed.code, failed.message, requestId, iam ? IAM_NAMESPACE : undefined);
    else send(res, status, 'text/xml', xml, requestId);
    log(rec, startedAt);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (err) {
      if (err instanceof BodyTooLarge) send(res, 413, 'text/plain', 'Request entity too large\n');
      return;
    }
    const method = req.method ?? 'GET';
    const isControl = url.pathname.startsWith('/_emulator/');
    // IAM Identity Center (SSO-OIDC, the portal, /_emulator/sso/ controls): emulator/sso.ts;
    // AWS Sign-In (`aws login`: /v1/authorize, /v1/token, /_emulator/login/ controls):
    // emulator/login.ts. Both with the same latency as STS (behaviour latencyMs), so that
    // parallel callers meet a refresh in flight.
    const slow = handleSso(state, method, url, req.headers, body) ?? handleLogin(state, method, url, req.headers, body);
    if (slow) {
      if (!isControl) await delay(state.behaviour.latencyMs);
      reply(res, slow);
      return;
    }
    // The federation endpoint (console sign-in) and its stub console: emulator/signin.ts.
    const signin = handleSignin(state, method, url, req.headers, body);
    if (signin) {
      reply(res, signin);
      return;
    }
    if (isControl) {
      const result = handleControl(state, method, url.pathname, body);
      reply(res, jsonReply(result.status, result.body));
      return;
    }
    await handleSts(req, res, url, body);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (closing.signal.aborted) return;
      if (!quiet) process.stderr.write(`emulator: ${String(err)}\n`);
      send(res, 500, 'text/plain', 'internal emulator error\n');
    });
  });
  // Idle keep-alive connections stay open longer than any client waits between calls. With
  // Node's default of 5 s, a device-flow client polling every 5-6 s raced the server's close
  // on a busy machine and reused a socket the server had just shut ("socket hang up"). AWS's
  // endpoints keep idle connections for about a minute; the SDK's agent reuses them.
  server.keepAliveTimeout = 65_000;
  // Node closes a connection whose next request's headers have not arrived within
  // headersTimeout (60 s by default), counted from the end of the last response, so an idle
  // keep-alive socket died at 60 s while the client (told "timeout=65") still reused it:
  // the bench's control call after a minute of hyperfine failed with "other side closed".
  server.headersTimeout = 70_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('emulator: unexpected server address');
  const port = address.port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
