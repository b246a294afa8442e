import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Hash, Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Checksum, HttpRequest, QueryParameterBag, SourceData } from '@smithy/types';
import { StsError, incompleteSignature, signatureMismatch } from './errors.ts';

/** sha256 / HMAC-SHA256 for @smithy/signature-v4, over node:crypto (no extra dependency). */
export class NodeSha256 implements Checksum {
  readonly #key: Buffer | undefined;
  #hash: Hash | Hmac;

  constructor(secret?: SourceData) {
    this.#key = secret === undefined ? undefined : toBuffer(secret);
    this.#hash = this.#fresh();
  }

  #fresh(): Hash | Hmac {
    return this.#key ? createHmac('sha256', this.#key) : createHash('sha256');
  }

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.#hash.digest()));
  }

  reset(): void {
    this.#hash = this.#fresh();
  }
}

function toBuffer(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(new Uint8Array(data));
}

/** An incoming request as the signer must see it: names lower-cased, body as bytes. */
export interface SignedRequest {
  method: string;
  /** Raw (still percent-encoded) path, without the query string. */
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string>;
  body: Buffer;
}

export interface AuthInfo {
  mode: 'header' | 'query';
  accessKeyId: string;
  scopeDate: string;
  region: string;
  service: string;
  terminator: string;
  signedHeaders: string[];
  signature: string;
  /** X-Amz-Date as sent, e.g. 20261122T080000Z. */
  amzDate: string;
  signingDate: Date;
  securityToken?: string;
  /** X-Amz-Expires of a presigned URL. */
  expiresSeconds?: number;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const AMZ_DATE_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const FIFTEEN_MINUTES_MS = 15 * 60 * 1000;
const QUERY_AUTH_PARAMS = [
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
  'X-Amz-Security-Token',
];

export function formatAmzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

function parseAmzDate(value: string): Date | undefined {
  const m = AMZ_DATE_RE.exec(value);
  if (!m) return undefined;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Best-effort key id for logs and stats, before anything is validated. */
export function peekAccessKeyId(req: SignedRequest): string | null {
  const auth = req.headers['authorization'];
  const cred = auth ? /Credential=([^/,\s]+)/.exec(auth)?.[1] : single(req.query['X-Amz-Credential'])?.split('/')[0];
  return cred ?? null;
}

/** Reads the SigV4 parameters from the Authorization header or a presigned query string. */
export function parseAuth(req: SignedRequest): AuthInfo {
  const header = req.headers['authorization'];
  if (header !== undefined) return parseAuthHeader(header, req);
  if (single(req.query['X-Amz-Algorithm']) !== undefined) return parseAuthQuery(req);
  throw new StsError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403);
}

function parseAuthHeader(header: string, req: SignedRequest): AuthInfo {
  const space = header.indexOf(' ');
  const algorithm = space < 0 ? header : header.slice(0, space);
  if (algorithm !== ALGORITHM) {
    throw incompleteSignature(`Unsupported AWS 'algorithm': '${algorithm}'`);
  }
  const parts = new Map<string, string>();
  for (const piece of header.slice(space + 1).split(',')) {
    const eq = piece.indexOf('=');
    if (eq > 0) parts.set(piece.slice(0, eq).trim(), piece.slice(eq + 1).trim());
  }
  const missing = ['Credential', 'Signature', 'SignedHeaders']
    .filter((k) => !parts.get(k))
    .map((k) => `Authorization header requires '${k}' parameter.`);
  const amzDate = req.headers['x-amz-date'];
  if (amzDate === undefined) {
    missing.push("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  }
  if (missing.length > 0) throw incompleteSignature(`${missing.join(' ')} Authorization=${header}`);
  return finishAuth('header', parts.get('Credential')!, parts.get('SignedHeaders')!, parts.get('Signature')!, amzDate!, req.headers['x-amz-security-token']);
}

function parseAuthQuery(req: SignedRequest): AuthInfo {
  const q = (k: string) => single(req.query[k]);
  const algorithm = q('X-Amz-Algorithm')!;
  if (algorithm !== ALGORITHM) throw incompleteSignature(`Unsupported AWS 'algorithm': '${algorithm}'`);
  const missing = ['X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-SignedHeaders', 'X-Amz-Date'].filter((k) => !q(k));
  if (missing.length > 0) {
    throw incompleteSignature(missing.map((k) => `AWS query-string parameters must include '${k}'.`).join(' '));
  }
  const info = finishAuth('query', q('X-Amz-Credential')!, q('X-Amz-SignedHeaders')!, q('X-Amz-Signature')!, q('X-Amz-Date')!, q('X-Amz-Security-Token'));
  const expires = q('X-Amz-Expires');
  if (expires !== undefined) {
    if (!/^\d+$/.test(expires)) throw incompleteSignature(`X-Amz-Expires must be a number, got '${expires}'`);
    info.expiresSeconds = Number(expires);
  }
  return info;
}

function finishAuth(mode: 'header' | 'query', credential: string, signedHeaders: string, signature: string, amzDate: string, token: string | undefined): AuthInfo {
  const scope = credential.split('/');
  if (scope.length !== 5 || scope.some((s) => s === '')) {
    throw incompleteSignature(
      `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${credential}'`,
    );
  }
  const signingDate = parseAmzDate(amzDate);
  if (!signingDate) {
    throw incompleteSignature(
      `Date must be in ISO-8601 'basic format'. Got '${amzDate}'. See http://en.wikipedia.org/wiki/ISO_8601`,
    );
  }
  const [accessKeyId, scopeDate, region, service, terminator] = scope as [string, string, string, string, string];
  return {
    mode,
    accessKeyId,
    scopeDate,
    region,
    service,
    terminator,
    signedHeaders: signedHeaders.split(';').map((h) => h.trim().toLowerCase()).filter(Boolean),
    signature,
    amzDate,
    signingDate,
    ...(token !== undefined ? { securityToken: token } : {}),
  };
}

/** The credential-scope checks AWS makes before it looks at the signature itself. */
export function checkScope(auth: AuthInfo, service = 'sts'): void {
  if (auth.terminator !== 'aws4_request') {
    throw signatureMismatch(`Credential should be scoped with a valid terminator: 'aws4_request', not '${auth.terminator}'.`);
  }
  if (auth.service !== service) {
    throw signatureMismatch(`Credential should be scoped to correct service: '${service}'. `);
  }
  if (!/^[a-z0-9-]+$/.test(auth.region)) {
    throw signatureMismatch('Credential should be scoped to a valid region. ');
  }
  if (auth.scopeDate !== auth.amzDate.slice(0, 8)) {
    throw signatureMismatch(
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.scopeDate}' != '${auth.amzDate.slice(0, 8)}', from '${auth.amzDate}'.`,
    );
  }
  if (!auth.signedHeaders.includes('host')) {
    throw signatureMismatch("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
}

/** STS tolerates 15 minutes of skew either way, with these exact messages. */
export function checkClock(auth: AuthInfo, nowMs: number): void {
  const signed = auth.signingDate.getTime();
  const now = formatAmzDate(nowMs);
  if (signed < nowMs - FIFTEEN_MINUTES_MS) {
    throw signatureMismatch(
      `Signature expired: ${auth.amzDate} is now earlier than ${formatAmzDate(nowMs - FIFTEEN_MINUTES_MS)} (${now} - 15 min.)`,
    );
  }
  if (signed > nowMs + FIFTEEN_MINUTES_MS) {
    throw signatureMismatch(
      `Signature not yet current: ${auth.amzDate} is still later than ${formatAmzDate(nowMs + FIFTEEN_MINUTES_MS)} (${now} + 15 min.)`,
    );
  }
  if (auth.expiresSeconds !== undefined && nowMs > signed + auth.expiresSeconds * 1000) {
    throw signatureMismatch(
      `Signature expired: ${auth.amzDate} is now earlier than ${formatAmzDate(nowMs - auth.expiresSeconds * 1000)} (${now} - ${auth.expiresSeconds} sec.)`,
    );
  }
}

function sameSignature(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Recomputes the signature with the SDK's own signer over exactly what the client said it
 * signed, and compares. Only the listed headers go in, so whatever a client adds after
 * signing (or leaves unsigned, like user-agent) cannot change the result.
 */
export async function verifySignature(req: SignedRequest, auth: AuthInfo, secretAccessKey: string): Promise<boolean> {
  const headers: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    const value = req.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  const base = {
    method: req.method,
    protocol: 'http:',
    hostname: req.headers['host'] ?? '127.0.0.1',
    path: req.path,
    headers,
    body: req.body,
  };
  const signable = new Set(auth.signedHeaders);
  const signer = (sessionToken?: string) =>
    new SignatureV4({
      service: auth.service,
      region: auth.region,
      credentials: { accessKeyId: auth.accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
      sha256: NodeSha256,
      applyChecksum: false,
    });

  if (auth.mode === 'header') {
    const claimed = req.headers['x-amz-content-sha256'];
    const actual = createHash('sha256').update(req.body).digest('hex');
    // The signer trusts a claimed payload hash; AWS does not, or a body could be swapped.
    if (claimed !== undefined && claimed !== 'UNSIGNED-PAYLOAD' && claimed !== actual) return false;
    const request: HttpRequest = { ...base, query: { ...req.query } as QueryParameterBag };
    // The token is signed only if the client listed it; it is already in `headers` then.
    const signed = await signer().sign(request, { signingDate: auth.signingDate, signableHeaders: signable });
    const computed = /Signature=([0-9a-f]+)/.exec(String(signed.headers['authorization']))?.[1] ?? '';
    return sameSignature(computed, auth.signature);
  }

  const query: Record<string, string | string[]> = { ...req.query };
  for (const p of QUERY_AUTH_PARAMS) delete query[p];
  // botocore presigns with the empty-body hash; other signers use UNSIGNED-PAYLOAD. Try both.
  for (const payload of [EMPTY_SHA256, 'UNSIGNED-PAYLOAD']) {
    const request: HttpRequest = {
      ...base,
      headers: payload === EMPTY_SHA256 ? headers : { ...headers, 'x-amz-content-sha256': payload },
      query: query as QueryParameterBag,
    };
    const keep = new Set(['x-amz-content-sha256']);
    // presign() rejects expiries beyond a week; such a URL cannot be valid anyway.
    const presigned = await signer(auth.securityToken)
      .presign(request, {
        signingDate: auth.signingDate,
        expiresIn: auth.expiresSeconds ?? 3600,
        signableHeaders: signable,
        unsignableHeaders: keep,
        unhoistableHeaders: keep,
      })
      .catch(() => undefined);
    if (!presigned) return false;
    const computed = single(presigned.query?.['X-Amz-Signature'] as string | string[] | undefined) ?? '';
    if (sameSignature(computed, auth.signature)) return true;
  }
  return false;
}
