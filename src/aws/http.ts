// The one way keyrole's AWS clients (STS, SSO, SSO-OIDC, IAM) make HTTP connections, as the
// AWS CLI does:
// - HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY (either case) are honoured;
// - the certificates trusted are AWS_CA_BUNDLE / the profile's ca_bundle when set, else the
//   Mozilla roots that Node carries (tls.rootCertificates), always with verification on.
//   Node's own NODE_TLS_REJECT_UNAUTHORIZED=0 and NODE_EXTRA_CA_CERTS are NOT honoured: the
//   AWS CLI ignores them, and either lets whoever can set the environment (or a CA planted
//   in a file it names) sit between keyrole and STS and receive credentials. An explicit
//   `ca` and `rejectUnauthorized: true` on the agent override both.
//
// Why a library for proxies (https-proxy-agent, http-proxy-agent, proxy-from-env, in
// src/aws/agents.ts) rather than Node's own: Node 24's agents take `proxyEnv`, but the npm
// channel runs on Node 20 and 22, which have no proxy support, and one behaviour for both
// channels matters more than one dependency less. The agents live in a bundle of their own
// (like the SDK clients, src/aws/sdk.ts), loaded only when a proxy variable is set, so the
// usual cold miss pays nothing for them.

import { readFileSync } from 'node:fs';
import { KeyroleError } from '../util/errors.ts';
import { debug } from '../util/debug.ts';
import { loadSdk } from './sdk.ts';
import type { CaBundle } from '../config/cabundle.ts';

export interface HttpOptions {
  /** The endpoint the client talks to (the proxy choice depends on its scheme and host). */
  url: string;
  connectTimeoutMs: number;
  /** Bound on each attempt from the request to the end of the answer. */
  requestTimeoutMs: number;
  caBundle: CaBundle | undefined;
}

/** The SDK's NodeHttpHandler options (a plain object: every SDK client turns it into its handler). */
export interface HandlerOptions {
  connectionTimeout: number;
  requestTimeout: number;
  throwOnRequestTimeout: true;
  socketTimeout: number;
  httpAgent: import('node:http').Agent;
  httpsAgent: import('node:https').Agent;
}

const PROXY_VARS = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY'];

const contexts = new Map<string, import('node:tls').SecureContext>();

/**
 * Whether Node's default trust store is exactly its bundled Mozilla roots. Then the agents
 * keep it (building a context from the 140-odd roots costs ~30 ms); otherwise (extra
 * certificates from NODE_EXTRA_CA_CERTS, the system store, OpenSSL's) they get an explicit
 * context of the bundled roots.
 */
function defaultStoreIsBundled(env: NodeJS.ProcessEnv = process.env): boolean {
  const flags = [...process.execArgv, env.NODE_OPTIONS ?? ''].join(' ');
  return !env.NODE_EXTRA_CA_CERTS && !env.NODE_USE_SYSTEM_CA && !/--use-(openssl|system)-ca/.test(flags);
}

/** The TLS options of every connection: verification on, and the trusted certificates. */
export function tlsOptions(bundle: CaBundle | undefined): { rejectUnauthorized: true; secureContext?: import('node:tls').SecureContext } {
  if (!bundle && defaultStoreIsBundled()) return { rejectUnauthorized: true };
  const key = bundle?.path ?? '';
  let secureContext = contexts.get(key);
  if (!secureContext) {
    const tls = process.getBuiltinModule('node:tls') as typeof import('node:tls');
    secureContext = tls.createSecureContext({ ca: bundle ? readBundle(bundle) : [...tls.rootCertificates] });
    contexts.set(key, secureContext);
  }
  return { rejectUnauthorized: true, secureContext };
}

function readBundle(bundle: CaBundle): string[] {
  let text: string;
  try {
    text = readFileSync(bundle.path, 'utf8');
  } catch (err) {
    throw new KeyroleError('BadCaBundle', `cannot read the CA bundle ${bundle.path} (from ${bundle.from}): ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, `point ${bundle.from} at a readable PEM file`);
  }
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!pems.length) throw new KeyroleError('BadCaBundle', `the CA bundle ${bundle.path} (from ${bundle.from}) holds no PEM certificate`, `point ${bundle.from} at a PEM file of CA certificates`);
  return pems;
}

/**
 * Runs one AWS call with NODE_TLS_REJECT_UNAUTHORIZED out of Node's sight. keyrole's
 * connections never honour it (rejectUnauthorized is explicit), but Node reads it at every
 * TLS connection and, when it is 0, prints a warning on stderr, which is keyrole's one-line
 * error channel. It is put back afterwards for the programs `keyrole exec` starts.
 */
export async function withoutNodeTlsOverride<T>(fn: () => Promise<T>): Promise<T> {
  const saved = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  if (saved === undefined) return fn();
  debug('NODE_TLS_REJECT_UNAUTHORIZED is set; keyrole ignores it (certificates are always verified)');
  delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  try {
    return await fn();
  } finally {
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = saved;
  }
}

/** Options for any SDK client's requestHandler: bounds, trust and proxy for `o.url`. */
export function requestHandler(o: HttpOptions): HandlerOptions {
  const http = process.getBuiltinModule('node:http') as typeof import('node:http');
  const https = process.getBuiltinModule('node:https') as typeof import('node:https');
  // The trusted certificates are read (and a context built: ~30 ms for a system bundle) only
  // when a TLS connection can be made: an http endpoint (the emulator, LocalStack) needs none.
  const tls = () => tlsOptions(o.caBundle);
  const secure = new URL(o.url).protocol === 'https:';
  let httpAgent: import('node:http').Agent = new http.Agent({ keepAlive: false });
  let httpsAgent: import('node:https').Agent = new https.Agent({ ...(secure ? tls() : { rejectUnauthorized: true }), keepAlive: false });
  if (PROXY_VARS.some((v) => process.env[v])) {
    const proxied = loadSdk('net').agentsFor(o.url, tls);
    if (proxied) {
      debug(`HTTP: ${o.url} through the proxy ${proxied.proxyLabel}`);
      httpAgent = proxied.httpAgent;
      httpsAgent = proxied.httpsAgent;
    } else {
      debug(`HTTP: ${o.url} directly (NO_PROXY, or no proxy for its scheme)`);
    }
  }
  return {
    connectionTimeout: o.connectTimeoutMs,
    // requestTimeout only warns unless throwOnRequestTimeout is set, and it ends at the
    // response headers; socketTimeout bounds a body that stalls after them.
    requestTimeout: o.requestTimeoutMs,
    throwOnRequestTimeout: true,
    socketTimeout: o.requestTimeoutMs,
    httpAgent,
    httpsAgent,
  };
}

export interface Answer { status: number; headers: import('node:http').IncomingHttpHeaders; body: string }

/**
 * One bounded HTTP exchange outside the SDK (the federation endpoint, AWS Sign-In's token
 * call), through the same connections as every AWS call: no redirect followed, the answer
 * read up to `maxBytes` (else an error named TooLarge), the whole exchange within
 * `timeoutMs` (else TimeoutError).
 */
export function boundedRequest(url: string, o: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs: number; maxBytes: number; caBundle: CaBundle | undefined }): Promise<Answer> {
  const h = requestHandler({ url, connectTimeoutMs: o.timeoutMs, requestTimeoutMs: o.timeoutMs, caBundle: o.caBundle });
  const secure = url.startsWith('https:');
  const mod = (secure ? process.getBuiltinModule('node:https') : process.getBuiltinModule('node:http')) as typeof import('node:https');
  const headers = { ...o.headers, ...(o.body !== undefined ? { 'content-length': String(Buffer.byteLength(o.body)) } : {}) };
  return new Promise((resolve, reject) => {
    const fail = (name: string) => { req.destroy(Object.assign(new Error(name), { name })); };
    const timer = setTimeout(() => fail('TimeoutError'), o.timeoutMs);
    const req = mod.request(url, { method: o.method ?? 'GET', agent: secure ? h.httpsAgent : h.httpAgent, headers }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > o.maxBytes) return fail('TooLarge');
        chunks.push(chunk);
      });
      res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }); });
      res.on('error', (err) => { clearTimeout(timer); reject(err); });
    });
    req.on('error', (err) => { clearTimeout(timer); reject(err); });
    req.end(o.body);
  });
}
