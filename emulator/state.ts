import { createHash, randomBytes, randomInt } from 'node:crypto';
import { DEFAULT_SEED, DEMO_ACCOUNT_ID } from './seed.ts';
import type { Seed, SeedRole } from './seed.ts';
import { isBase32, randomBase32Secret } from './totp.ts';
import type { AssumeRoleCarried } from './carried.ts';

export interface User {
  userName: string;
  accountId: string;
  userId: string;
  arn: string;
  /** Actions an identity policy of the user denies (e.g. `sts:GetFederationToken`), for refusal tests. */
  denied?: string[];
}

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
  user: User;
  /** IAM's key status (emulator/iam.ts); absent means Active. */
  status?: 'Active' | 'Inactive';
  /** Epoch ms on the emulator's clock; absent for seeded keys. */
  createDate?: number;
}

export interface Role {
  roleArn: string;
  roleName: string;
  accountId: string;
  roleId: string;
  maxSessionDuration: number;
  requireExternalId?: string;
  requireMfa: boolean;
  trustedPrincipals?: string[];
}

export interface MfaDevice {
  serial: string;
  secret: string;
  accountId?: string;
  userName?: string;
  /** TOTP counters already accepted: AWS refuses a code twice. */
  usedCounters: Set<number>;
}

export interface SessionTag {
  key: string;
  value: string;
}

export interface Session {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  /** Epoch ms on the emulator's clock. */
  expiration: number;
  issuedAt: number;
  /**
   * 'role': from AssumeRole or SSO's GetRoleCredentials (chaining rules apply); 'session':
   * from GetSessionToken; 'federation': from GetFederationToken (a federated user).
   */
  kind: 'role' | 'session' | 'federation';
  /** A role assumed with temporary credentials (role chaining, AWS's 1-hour rule): the console refuses a SessionDuration for it. */
  chained?: boolean;
  /** The inline session policy passed to GetFederationToken (or AssumeRole), as given. */
  sessionPolicy?: string;
  accountId: string;
  /** Caller identity as GetCallerIdentity reports it. */
  arn: string;
  userId: string;
  role?: Role;
  roleSessionName?: string;
  /** The IAM user at the root of the chain, when known. */
  user?: User;
  mfaAuthenticated: boolean;
  sourceIdentity?: string;
  tags: SessionTag[];
  transitiveTagKeys: string[];
}

export type FaultKind = 'error' | 'reset' | 'hang' | 'badxml' | 'wrongContentType';

export interface Fault {
  action: string;
  times: number;
  kind: FaultKind;
  status?: number;
  code?: string;
  message?: string;
}

export interface Behaviour {
  latencyMs: number;
  credentialLifetimeSeconds: number | null;
  clockOffsetMs: number;
  faults: Fault[];
  /**
   * How errors are written. 'aws': STS's own `<ErrorResponse><Error>`. 'errors': the shape other
   * STS implementations answer (moto, LocalStack): `<ErrorResponse><Errors><Error>` and an
   * X-Amzn-ErrorType header. 'header': only the header names the error (an empty body).
   */
  errorShape: ErrorShape;
  /**
   * While true, every STS and IAM answer waits (after its latency) until it is set false
   * again: a test holds the one request a lock holder made while its waiters line up, and
   * reads how many answers wait in `held`, instead of betting on a latency.
   */
  holdSts: boolean;
}

export type ErrorShape = 'aws' | 'errors' | 'header';
export const ERROR_SHAPES: readonly ErrorShape[] = ['aws', 'errors', 'header'];

export interface RequestRecord {
  action: string;
  accessKeyId: string | null;
  ok: boolean;
  status: number;
  code?: string;
  fault?: FaultKind;
  roleArn?: string;
  durationSeconds?: number;
  /** AssumeRole only: every parameter the call carried (emulator/carried.ts). */
  carried?: AssumeRoleCarried;
  time: string;
}

export interface EmulatorStats {
  calls: Record<string, number>;
  requests: RequestRecord[];
}

const MAX_RECORDS = 1000;
// AWS key and principal ids use upper-case letters and digits 2–7 after the prefix.
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

export const ROLE_ARN_RE = /^arn:aws:iam::(\d{12}):role\/((?:[\w+=,.@-]+\/)*)([\w+=,.@-]{1,64})$/;
const MFA_ARN_RE = /^arn:aws:iam::(\d{12}):mfa\/(.+)$/;

function randomChars(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** Ids for seeded principals must not change between runs, so derive them from the ARN. */
function stableId(prefix: string, from: string, length = 21): string {
  const digest = createHash('sha256').update(from).digest();
  let out = prefix;
  for (let i = 0; out.length < length; i++) out += ID_ALPHABET[digest[i]! & 31];
  return out;
}

export const newAccessKeyId = (prefix: 'AKIA' | 'ASIA'): string => prefix + randomChars(ID_ALPHABET, 16);
export const newSecretAccessKey = (): string => randomChars(SECRET_ALPHABET, 40);
// Real tokens are opaque base64 blobs; a regional AssumeRole token is 750–770 characters
// (the global endpoint's are shorter). Length matters to anything that stores them (Windows'
// Credential Manager holds 2,560 bytes of UTF-16 per credential, env vars), so the emulator
// issues 752–768 characters, as the regional endpoints do.
export const newSessionToken = (): string =>
  Buffer.concat([Buffer.from('!\n\torigin_ec'), randomBytes(randomInt(551, 565))]).toString('base64');

export interface StateOptions {
  seed?: Seed;
  latencyMs?: number;
  clockOffsetMs?: number;
}

export class EmulatorState {
  readonly users = new Map<string, User>();
  readonly accessKeys = new Map<string, AccessKey>();
  readonly roles = new Map<string, Role>();
  readonly mfaDevices = new Map<string, MfaDevice>();
  readonly sessions = new Map<string, Session>();
  readonly behaviour: Behaviour;
  private calls = new Map<string, number>();
  private heldAnswers: (() => void)[] = [];

  /** How many STS or IAM answers wait for holdSts to end. */
  get held(): number {
    return this.heldAnswers.length;
  }

  /** Resolves at once, or when holdSts is set false. */
  stsGate(): Promise<void> {
    if (!this.behaviour.holdSts) return Promise.resolve();
    return new Promise((resolve) => this.heldAnswers.push(resolve));
  }

  /** Sets holdSts; ending it lets every held answer go. */
  setHold(on: boolean): void {
    this.behaviour.holdSts = on;
    if (on) return;
    const go = this.heldAnswers;
    this.heldAnswers = [];
    for (const f of go) f();
  }
  private requests: RequestRecord[] = [];

  constructor(options: StateOptions = {}) {
    this.behaviour = {
      latencyMs: options.latencyMs ?? 0,
      credentialLifetimeSeconds: null,
      clockOffsetMs: options.clockOffsetMs ?? 0,
      faults: [],
      errorShape: 'aws',
      holdSts: false,
    };
    const seed = options.seed ?? DEFAULT_SEED;
    // Seed files are hand-written JSON: tolerate a missing section rather than crash on it.
    for (const u of seed.users ?? []) {
      const user = this.ensureUser(u.userName, u.accountId, u.userId);
      for (const k of u.accessKeys ?? []) {
        this.accessKeys.set(k.accessKeyId, { accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey, user });
      }
    }
    for (const r of seed.roles ?? []) this.addRole(r);
    for (const d of seed.mfaDevices ?? []) this.addMfaDevice(d);
  }

  /** The emulator's clock: real time shifted by clockOffsetMs, for skew tests. */
  now(): number {
    return Date.now() + this.behaviour.clockOffsetMs;
  }

  private ensureUser(userName: string, accountId: string, userId?: string): User {
    const arn = `arn:aws:iam::${accountId}:user/${userName}`;
    let user = this.users.get(arn);
    if (!user) {
      user = { userName, accountId, userId: userId ?? stableId('AIDA', arn), arn };
      this.users.set(arn, user);
    }
    return user;
  }

  /** Adds the user if needed and gives it a fresh long-term access key. */
  addUser(userName: string, accountId: string = DEMO_ACCOUNT_ID): { accessKeyId: string; secretAccessKey: string; arn: string } {
    if (!/^[\w+=,.@-]{1,64}$/.test(userName)) throw new Error(`invalid userName '${userName}'`);
    if (!/^\d{12}$/.test(accountId)) throw new Error(`invalid accountId '${accountId}'`);
    const user = this.ensureUser(userName, accountId);
    const key: AccessKey = { accessKeyId: newAccessKeyId('AKIA'), secretAccessKey: newSecretAccessKey(), user };
    this.accessKeys.set(key.accessKeyId, key);
    return { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, arn: user.arn };
  }

  addRole(spec: SeedRole): Role {
    const m = ROLE_ARN_RE.exec(spec.roleArn);
    if (!m) throw new Error(`invalid role ARN '${spec.roleArn}'`);
    const max = spec.maxSessionDuration ?? 3600;
    if (!Number.isInteger(max) || max < 3600 || max > 43200) {
      throw new Error('maxSessionDuration must be an integer between 3600 and 43200');
    }
    const role: Role = {
      roleArn: spec.roleArn,
      accountId: m[1]!,
      roleName: m[3]!,
      roleId: spec.roleId ?? stableId('AROA', spec.roleArn),
      maxSessionDuration: max,
      requireMfa: spec.requireMfa ?? false,
      ...(spec.requireExternalId !== undefined ? { requireExternalId: spec.requireExternalId } : {}),
      ...(spec.trustedPrincipals !== undefined ? { trustedPrincipals: [...spec.trustedPrincipals] } : {}),
    };
    this.roles.set(role.roleArn, role);
    return role;
  }

  addMfaDevice(spec: { serial: string; secret?: string; userName?: string }): MfaDevice {
    if (!/^[\w+=/:,.@-]{9,256}$/.test(spec.serial)) throw new Error(`invalid MFA serial '${spec.serial}'`);
    const secret = (spec.secret ?? randomBase32Secret()).toUpperCase().replace(/\s|=/g, '');
    if (!isBase32(secret)) throw new Error('MFA secret must be base32 (A-Z, 2-7), at least 16 characters');
    const m = MFA_ARN_RE.exec(spec.serial);
    const device: MfaDevice = {
      serial: spec.serial,
      secret,
      usedCounters: new Set(),
      ...(m ? { accountId: m[1]! } : {}),
      ...(spec.userName !== undefined ? { userName: spec.userName } : {}),
    };
    this.mfaDevices.set(device.serial, device);
    return device;
  }

  issueSession(fields: Omit<Session, 'accessKeyId' | 'secretAccessKey' | 'sessionToken' | 'expiration' | 'issuedAt'>, durationSeconds: number): Session {
    const issuedAt = this.now();
    // credentialLifetimeSeconds lets cache tests see expiry in seconds, not hours.
    const lifetime = this.behaviour.credentialLifetimeSeconds ?? durationSeconds;
    // AWS reports whole seconds; keep the stored expiry equal to what the client sees.
    const expiration = Math.floor((issuedAt + lifetime * 1000) / 1000) * 1000;
    const session: Session = {
      ...fields,
      accessKeyId: newAccessKeyId('ASIA'),
      secretAccessKey: newSecretAccessKey(),
      sessionToken: newSessionToken(),
      expiration,
      issuedAt,
    };
    this.sessions.set(session.accessKeyId, session);
    return session;
  }

  /** Marks a session expired now; false if the key is not a session key. */
  expireSession(accessKeyId: string): boolean {
    const s = this.sessions.get(accessKeyId);
    if (!s) return false;
    s.expiration = Math.min(s.expiration, this.now() - 1000);
    return true;
  }

  /** The first queued fault that applies to this action, consumed by one use. */
  takeFault(action: string): Fault | undefined {
    const idx = this.behaviour.faults.findIndex((f) => f.times > 0 && (f.action === '*' || f.action === action));
    if (idx < 0) return undefined;
    const fault = this.behaviour.faults[idx]!;
    fault.times -= 1;
    if (fault.times <= 0) this.behaviour.faults.splice(idx, 1);
    return { ...fault };
  }

  record(rec: RequestRecord): void {
    this.calls.set(rec.action, (this.calls.get(rec.action) ?? 0) + 1);
    this.requests.push(rec);
    if (this.requests.length > MAX_RECORDS) this.requests.splice(0, this.requests.length - MAX_RECORDS);
  }

  stats(): EmulatorStats {
    return { calls: Object.fromEntries(this.calls), requests: this.requests.map((r) => ({ ...r })) };
  }

  resetStats(): void {
    this.calls.clear();
    this.requests = [];
  }
}
