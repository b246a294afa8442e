// One call to an AWS query-protocol API (STS) without the SDK: a form-encoded POST signed
// with SigV4, sent over node:http or node:https, its XML answer parsed.
//
// Why not @aws-sdk/client-sts: on a cache miss, loading it and making its first request
// cost ~60 ms (measured: 31 ms to load, 28 ms for a request to a local endpoint), most of
// it built-in modules it loads up front (http2, zlib, https, crypto, fs/promises) and its
// middleware and endpoint-rules machinery, for three calls whose shape never changes.
// Why SigV4 by hand: @smithy/signature-v4 pulls in @smithy/core (39 ms to load) and aws4
// needs node:crypto (~7 ms more than node:http alone); the signature is a few lines over
// @noble/hashes' audited SHA-256 and HMAC, and the emulator checks it with AWS's own signer.
//
// This module is bundled on its own (dist/keyrole-query.cjs) and loaded only for a call. It
// imports nothing from keyrole, so it shares no module state with the main bundle; callers
// get errors in the SDK's shape (name = the AWS error code, $metadata.httpStatusCode) and
// map them to keyrole's messages.

import { sha256 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';

export interface QueryKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface QueryCall {
  url: string;
  /** The SigV4 scope's region and service. */
  region: string;
  service: string;
  /** Action, Version and the action's parameters, already flattened (Tags.member.1.Key…). */
  params: Record<string, string>;
  keys: QueryKeys;
  userAgent: string;
  /** Milliseconds to add to the local clock when signing; a clock-skew answer updates it, as the SDK does. */
  clock: { offsetMs: number };
  maxAttempts: number;
  connectTimeoutMs: number;
  /** No response headers this long after the request, or a body idle this long: the attempt is given up. */
  requestTimeoutMs: number;
  maxResponseBytes: number;
  /** Ends everything, retries included. */
  signal: AbortSignal;
  /** Every answer, retried ones included (the clock check reads its Date header). */
  onResponse?(response: { statusCode: number; headers: IncomingHttpHeaders }, sentAt: number, receivedAt: number): void;
  log?(line: string): void;
}

/** An error answer, or a failure to get one, in the SDK's shape. */
export interface QueryError extends Error {
  code?: string;
  $metadata?: { httpStatusCode?: number };
  /**
   * Set where the caller must name the problem itself: a 2xx that is not XML, an answer too
   * large or unreadable, an attempt that got no answer in time.
   */
  queryProblem?: 'not-xml' | 'too-large' | 'unreadable' | 'no-answer';
  contentType?: string;
}

const make = (name: string, message: string, extra: Partial<QueryError> = {}): QueryError => Object.assign(new Error(message), { name }, extra);

// ---- SigV4 ----

const enc = new TextEncoder();
const hex = (data: string) => bytesToHex(sha256(enc.encode(data)));

/** RFC 3986 encoding, as SigV4 and the query protocol want it (encodeURIComponent leaves !'()* alone). */
export function uriEscape(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalPath(pathname: string): string {
  const out: string[] = [];
  for (const seg of pathname.split('/')) {
    if (seg === '..') out.pop();
    else if (seg && seg !== '.') out.push(seg);
  }
  const p = `/${out.join('/')}${out.length && pathname.endsWith('/') ? '/' : ''}`;
  // Services other than S3 sign the path encoded once more than it travels.
  return p.split('/').map(uriEscape).join('/');
}

export interface Signed {
  headers: Record<string, string>;
  body: string;
}

/** Signs a form POST with SigV4 (header auth), at `now`. */
export function signQuery(url: URL, region: string, service: string, params: Record<string, string>, keys: QueryKeys, now: Date, extra: Record<string, string> = {}): Signed {
  const body = Object.entries(params).map(([k, v]) => `${uriEscape(k)}=${uriEscape(v)}`).join('&');
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const signedHeaders: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
    host: url.host,
    'x-amz-date': amzDate,
    ...(keys.sessionToken ? { 'x-amz-security-token': keys.sessionToken } : {}),
  };
  const names = Object.keys(signedHeaders).sort();
  const canonicalHeaders = names.map((n) => `${n}:${signedHeaders[n].trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonicalRequest = ['POST', canonicalPath(url.pathname), '', canonicalHeaders, names.join(';'), hex(body)].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, hex(canonicalRequest)].join('\n');
  let key: Uint8Array = enc.encode(`AWS4${keys.secretAccessKey}`);
  for (const part of [day, region, service, 'aws4_request']) key = hmac(sha256, key, enc.encode(part));
  const signature = bytesToHex(hmac(sha256, key, enc.encode(stringToSign)));
  return {
    body,
    headers: {
      ...signedHeaders,
      ...extra,
      'content-length': String(Buffer.byteLength(body)),
      authorization: `AWS4-HMAC-SHA256 Credential=${keys.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`,
    },
  };
}

// ---- XML ----

let parser: XMLParser | undefined;

/** fast-xml-parser names unclosed elements by dumping their stack as JSON; say it in words. */
function validatorMessage(msg: string): string {
  const stack = /^Invalid '(\[[\s\S]*\])' found\.?$/.exec(msg)?.[1];
  try {
    const open = stack ? JSON.parse(stack) as unknown : undefined;
    if (Array.isArray(open) && typeof open.at(-1) === 'string') return `the document ends inside <${open.at(-1) as string}>`;
  } catch { /* not that message */ }
  return msg.replace(/\s+/g, ' ');
}

/** The parsed document; a malformed one is an "XML parse error", which is not retried. */
export function parseXml(text: string): Record<string, unknown> {
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw make('Error', `XML parse error: ${validatorMessage(valid.err.msg)} (line ${valid.err.line})`, { queryProblem: 'unreadable' });
  parser ??= new XMLParser({ ignoreAttributes: true, parseTagValue: false, processEntities: true, removeNSPrefix: true });
  return parser.parse(text) as Record<string, unknown>;
}

// ---- one attempt ----

interface Answer {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function attempt(c: QueryCall, url: URL, signed: Signed): Promise<Answer> {
  const http = process.getBuiltinModule(url.protocol === 'https:' ? 'node:https' : 'node:http') as typeof import('node:http');
  return new Promise((resolve, reject) => {
    const req: ClientRequest = http.request(url, { method: 'POST', headers: signed.headers, agent: false });
    let done = false;
    // One deadline at a time: the connection, then the response headers.
    let deadline: NodeJS.Timeout | undefined;
    const finish = (err: QueryError | undefined, answer?: Answer) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      c.signal.removeEventListener('abort', onAbort);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(answer!);
    };
    const onAbort = () => finish(make('AbortError', 'the request was aborted'));
    const expect = (ms: number, err: () => QueryError) => {
      clearTimeout(deadline);
      deadline = setTimeout(() => finish(err()), ms);
    };
    c.signal.addEventListener('abort', onAbort);
    expect(c.connectTimeoutMs, () => make('TimeoutError', `no connection within ${c.connectTimeoutMs} ms`));
    req.on('socket', (sock) => {
      sock.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
        expect(c.requestTimeoutMs, () => make('TimeoutError', `no answer within ${c.requestTimeoutMs} ms of the request`, { queryProblem: 'no-answer' }));
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => finish(err));
    req.on('response', (res: IncomingMessage) => {
      clearTimeout(deadline);
      const statusCode = res.statusCode ?? 0;
      const type = String(res.headers['content-type'] ?? '');
      if (statusCode < 300 && type && !/xml/i.test(type)) {
        return finish(make('Error', 'not XML', { queryProblem: 'not-xml', contentType: type, $metadata: { httpStatusCode: statusCode } }));
      }
      const tooLarge = () => make('Error', 'too large', { queryProblem: 'too-large' });
      if (Number(res.headers['content-length']) > c.maxResponseBytes) return finish(tooLarge());
      res.setTimeout(c.requestTimeoutMs, () => finish(make('TimeoutError', `the answer stalled for ${c.requestTimeoutMs} ms`, { queryProblem: 'no-answer' })));
      const chunks: Buffer[] = [];
      let seen = 0;
      res.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > c.maxResponseBytes) finish(tooLarge());
        else chunks.push(chunk);
      });
      res.on('error', (err) => finish(err));
      res.on('end', () => finish(undefined, { statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.end(signed.body);
  });
}

// ---- retries, as the SDK's standard mode ----

// @smithy/service-error-classification's lists.
const THROTTLING = new Set(['BandwidthLimitExceeded', 'EC2ThrottledException', 'LimitExceededException', 'PriorRequestNotComplete', 'ProvisionedThroughputExceededException', 'RequestLimitExceeded', 'RequestThrottled', 'RequestThrottledException', 'SlowDown', 'ThrottledException', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'TransactionInProgressException']);
const TRANSIENT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND']);
const CLOCK_SKEW = new Set(['AuthFailure', 'InvalidSignatureException', 'RequestExpired', 'RequestInTheFuture', 'RequestTimeTooSkewed', 'SignatureDoesNotMatch']);
const SKEW_LIMIT_MS = 5 * 60_000;

function isThrottling(e: QueryError): boolean {
  return THROTTLING.has(e.name) || e.$metadata?.httpStatusCode === 429;
}
function isRetryable(e: QueryError): boolean {
  const status = e.$metadata?.httpStatusCode;
  return isThrottling(e) || TRANSIENT_NAMES.has(e.name) || TRANSIENT_CODES.has(e.code ?? '') || (status !== undefined && status >= 500 && status <= 599);
}

function serviceError(a: Answer): QueryError {
  let code = '';
  let message = '';
  try {
    const doc = parseXml(a.body);
    const err = ((doc.ErrorResponse as Record<string, unknown> | undefined)?.Error ?? doc.Error) as Record<string, unknown> | undefined;
    code = typeof err?.Code === 'string' ? err.Code : '';
    message = typeof err?.Message === 'string' ? err.Message : '';
  } catch { /* not an AWS error document: named by its status below */ }
  return make(code || 'UnknownError', message || `HTTP ${a.statusCode} without an AWS error in the answer`, { $metadata: { httpStatusCode: a.statusCode } });
}

/** The `<Action>Result` element of a successful answer, with retries, backoff and the SDK's clock-skew correction. */
export async function queryCall(c: QueryCall): Promise<Record<string, unknown>> {
  const url = new URL(c.url);
  const action = c.params.Action;
  for (let n = 1; ; n++) {
    if (c.signal.aborted) throw make('AbortError', 'the request was aborted');
    const signed = signQuery(url, c.region, c.service, c.params, c.keys, new Date(Date.now() + c.clock.offsetMs), { 'user-agent': c.userAgent });
    const sentAt = Date.now();
    let err: QueryError;
    try {
      const a = await attempt(c, url, signed);
      c.onResponse?.({ statusCode: a.statusCode, headers: a.headers }, sentAt, Date.now());
      if (a.statusCode >= 200 && a.statusCode < 300) {
        const doc = parseXml(a.body);
        const result = (doc[`${action}Response`] as Record<string, unknown> | undefined)?.[`${action}Result`];
        return result && typeof result === 'object' ? result as Record<string, unknown> : {};
      }
      err = serviceError(a);
      // As the SDK: an answer dated more than 5 minutes from the signing clock corrects it, and a skew error is then worth one more try.
      const server = Date.parse(String(a.headers.date ?? ''));
      if (!isNaN(server) && Math.abs(Date.now() + c.clock.offsetMs - server) >= SKEW_LIMIT_MS) {
        c.clock.offsetMs = server - Date.now();
        if (CLOCK_SKEW.has(err.name) && n < c.maxAttempts) {
          c.log?.(`${err.name}: the answer's Date says the signing clock is off; signing again with ${c.clock.offsetMs} ms`);
          continue;
        }
      }
    } catch (e) {
      err = e as QueryError;
    }
    if (n >= c.maxAttempts || !isRetryable(err) || c.signal.aborted) throw err;
    const delay = Math.floor(Math.min(20_000, Math.random() * 2 ** n * (isThrottling(err) ? 500 : 100)));
    c.log?.(`attempt ${n} failed (${err.code ?? err.name}); retrying in ${delay} ms`);
    await new Promise((r) => setTimeout(r, delay));
  }
}
