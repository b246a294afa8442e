import { deflateRawSync } from 'node:zlib';
import {
  StsError,
  accessDenied,
  expiredToken,
  invalidClientTokenId,
  notAuthorized,
  signatureMismatch,
  validationError,
} from './errors.ts';
import { checkClock, checkScope, parseAuth, verifySignature } from './sigv4.ts';
import type { SignedRequest } from './sigv4.ts';
import type { AccessKey, EmulatorState, Role, Session, SessionTag, User } from './state.ts';
import { matchTotp, totpCounter } from './totp.ts';
import { successXml } from './xml.ts';
import type { XmlChild } from './xml.ts';

export const STS_VERSION = '2011-06-15';

/** Who signed the request, resolved from the access key. */
export interface Caller {
  accessKeyId: string;
  accountId: string;
  arn: string;
  userId: string;
  /** Set for long-term (AKIA) keys. */
  key?: AccessKey;
  /** Set for temporary (ASIA) keys. */
  session?: Session;
}

/**
 * Order matters and follows what clients observe from AWS: an unknown key is reported
 * before a bad token, a bad token before expiry, expiry before skew, skew before signature.
 */
export async function authenticate(state: EmulatorState, req: SignedRequest, service = 'sts'): Promise<Caller> {
  const auth = parseAuth(req);
  const key = state.accessKeys.get(auth.accessKeyId);
  const session = key ? undefined : state.sessions.get(auth.accessKeyId);
  if (!key && !session) throw invalidClientTokenId();
  if (key?.status === 'Inactive') throw invalidClientTokenId();
  if (key && auth.securityToken !== undefined) throw invalidClientTokenId();
  if (session) {
    if (auth.securityToken !== session.sessionToken) throw invalidClientTokenId();
    if (session.expiration <= state.now()) throw expiredToken();
  }
  checkScope(auth, service);
  checkClock(auth, state.now());
  const secret = key ? key.secretAccessKey : session!.secretAccessKey;
  // A signer exception means the request could not have been signed correctly either.
  const ok = await verifySignature(req, auth, secret).catch(() => false);
  if (!ok) throw signatureMismatch();
  if (key) {
    return { accessKeyId: key.accessKeyId, accountId: key.user.accountId, arn: key.user.arn, userId: key.user.userId, key };
  }
  const s = session!;
  return { accessKeyId: s.accessKeyId, accountId: s.accountId, arn: s.arn, userId: s.userId, session: s };
}

// ---- parameter validation, worded like AWS's Coral validation messages ----

const SESSION_NAME_PATTERN = '[\\w+=,.@-]*';
const EXTERNAL_ID_PATTERN = '[\\w+=,.@:\\/-]*';
const SERIAL_PATTERN = '[\\w+=/:,.@-]*';
const TOKEN_CODE_PATTERN = '[\\d]*';
const TAG_PATTERN = '[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*';

interface StringRule {
  required?: boolean;
  min?: number;
  max?: number;
  pattern?: string;
}

class Validator {
  readonly errors: string[] = [];

  str(location: string, value: string | undefined, rule: StringRule): void {
    if (value === undefined) {
      if (rule.required) this.errors.push(`Value null at '${location}' failed to satisfy constraint: Member must not be null`);
      return;
    }
    const length = [...value].length;
    if (rule.min !== undefined && length < rule.min) {
      this.fail(value, location, `Member must have length greater than or equal to ${rule.min}`);
    }
    if (rule.max !== undefined && length > rule.max) {
      this.fail(value, location, `Member must have length less than or equal to ${rule.max}`);
    }
    if (rule.pattern !== undefined && !new RegExp(`^(?:${rule.pattern})$`, 'u').test(value)) {
      this.fail(value, location, `Member must satisfy regular expression pattern: ${rule.pattern}`);
    }
  }

  int(location: string, raw: string | undefined, min: number, max: number): number | undefined {
    if (raw === undefined) return undefined;
    if (!/^-?\d+$/.test(raw)) {
      this.fail(raw, location, 'Member must be a number');
      return undefined;
    }
    const n = Number(raw);
    if (n < min) this.fail(raw, location, `Member must have value greater than or equal to ${min}`);
    if (n > max) this.fail(raw, location, `Member must have value less than or equal to ${max}`);
    return n;
  }

  count(location: string, shown: string, n: number, max: number): void {
    if (n > max) this.fail(shown, location, `Member must have length less than or equal to ${max}`);
  }

  fail(value: string, location: string, constraint: string): void {
    this.errors.push(`Value '${value}' at '${location}' failed to satisfy constraint: ${constraint}`);
  }

  throwIfAny(): void {
    const n = this.errors.length;
    if (n === 0) return;
    throw validationError(`${n} validation error${n === 1 ? '' : 's'} detected: ${this.errors.join('; ')}`);
  }
}

/** Query-protocol lists: Prefix.member.1, Prefix.member.2, … until the first gap. */
export function memberList(params: URLSearchParams, prefix: string, suffix = ''): string[] {
  const out: string[] = [];
  for (let i = 1; ; i++) {
    const v = params.get(`${prefix}.member.${i}${suffix}`);
    if (v === null) return out;
    out.push(v);
  }
}

export function tagList(params: URLSearchParams): SessionTag[] {
  const out: SessionTag[] = [];
  for (let i = 1; ; i++) {
    const key = params.get(`Tags.member.${i}.Key`);
    const value = params.get(`Tags.member.${i}.Value`);
    if (key === null && value === null) return out;
    out.push({ key: key ?? '', value: value ?? '' });
  }
}

const opt = (params: URLSearchParams, name: string): string | undefined => params.get(name) ?? undefined;

export const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function credentialsXml(s: Session): XmlChild {
  return [
    'Credentials',
    [
      ['AccessKeyId', s.accessKeyId],
      ['SecretAccessKey', s.secretAccessKey],
      ['SessionToken', s.sessionToken],
      ['Expiration', isoSeconds(s.expiration)],
    ],
  ];
}

const MFA_UNKNOWN_DEVICE =
  'MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user.';
const MFA_BAD_CODE = 'MultiFactorAuthentication failed with invalid MFA one time pass code.';
const MFA_INCOMPLETE = 'MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code.';

function rootUser(caller: Caller): User | undefined {
  return caller.key?.user ?? caller.session?.user;
}

/** Returns true when a serial/code pair was supplied and is valid; false when neither was. */
function checkMfa(state: EmulatorState, caller: Caller, serial: string | undefined, code: string | undefined): boolean {
  if (serial === undefined && code === undefined) return false;
  if (serial === undefined || code === undefined) throw accessDenied(MFA_INCOMPLETE);
  const device = state.mfaDevices.get(serial);
  const user = rootUser(caller);
  if (!device) throw accessDenied(MFA_UNKNOWN_DEVICE);
  if (device.userName !== undefined && user !== undefined) {
    if (device.userName !== user.userName || (device.accountId !== undefined && device.accountId !== user.accountId)) {
      throw accessDenied(MFA_UNKNOWN_DEVICE);
    }
  }
  const now = state.now();
  const counter = matchTotp(device.secret, code, now);
  // A code is good once: replaying it within its window is how stolen codes get used.
  if (counter === null || device.usedCounters.has(counter)) throw accessDenied(MFA_BAD_CODE);
  device.usedCounters.add(counter);
  const oldest = totpCounter(now) - 2;
  for (const c of device.usedCounters) if (c < oldest) device.usedCounters.delete(c);
  return true;
}

function trusts(role: Role, caller: Caller): boolean {
  if (!role.trustedPrincipals) return true;
  const roleArnOfCaller = caller.session?.role?.roleArn;
  return role.trustedPrincipals.some(
    (p) => p === caller.arn || p === roleArnOfCaller || p === `arn:aws:iam::${caller.accountId}:root` || p === caller.accountId,
  );
}

/** The session policies AssumeRole and GetFederationToken take: an inline document and up to 10 managed ARNs. */
function sessionPolicies(v: Validator, policy: string | undefined, policyArns: string[]): void {
  v.str('policy', policy, { min: 1, max: 2048 });
  v.count('policyArns', JSON.stringify(policyArns), policyArns.length, 10);
  policyArns.forEach((arn, i) => v.str(`policyArns.${i + 1}.member.arn`, arn, { min: 20, max: 2048 }));
}

/** After the length checks: the inline policy must be JSON. */
function checkPolicyDocument(policy: string | undefined): void {
  if (policy === undefined) return;
  try {
    JSON.parse(policy);
  } catch {
    throw new StsError('MalformedPolicyDocument', 'Syntax errors in policy.', 400);
  }
}

// AWS reports PackedPolicySize as a percentage of an undocumented compressed-size budget.
const PACKED_BUDGET_BYTES = 2048;

function packedPolicySize(policy: string | undefined, policyArns: string[], tags: SessionTag[]): number {
  let minified = '';
  if (policy !== undefined) minified = JSON.stringify(JSON.parse(policy));
  const packed = deflateRawSync(JSON.stringify([minified, policyArns, tags])).length;
  return Math.max(1, Math.ceil((packed * 100) / PACKED_BUDGET_BYTES));
}

// ---- actions ----

export function getCallerIdentity(caller: Caller, requestId: string): string {
  return successXml(
    'GetCallerIdentity',
    [
      ['Arn', caller.arn],
      ['UserId', caller.userId],
      ['Account', caller.accountId],
    ],
    requestId,
  );
}

export function assumeRole(state: EmulatorState, caller: Caller, params: URLSearchParams, requestId: string): string {
  const roleArn = opt(params, 'RoleArn');
  const sessionName = opt(params, 'RoleSessionName');
  const externalId = opt(params, 'ExternalId');
  const serial = opt(params, 'SerialNumber');
  const tokenCode = opt(params, 'TokenCode');
  const policy = opt(params, 'Policy');
  const sourceIdentity = opt(params, 'SourceIdentity');
  const policyArns = memberList(params, 'PolicyArns', '.arn');
  const tags = tagList(params);
  const transitive = memberList(params, 'TransitiveTagKeys');

  const v = new Validator();
  v.str('roleArn', roleArn, { required: true, min: 20, max: 2048 });
  v.str('roleSessionName', sessionName, { required: true, min: 2, max: 64, pattern: SESSION_NAME_PATTERN });
  const duration = v.int('durationSeconds', opt(params, 'DurationSeconds'), 900, 43200);
  v.str('externalId', externalId, { min: 2, max: 1224, pattern: EXTERNAL_ID_PATTERN });
  v.str('serialNumber', serial, { min: 9, max: 256, pattern: SERIAL_PATTERN });
  v.str('tokenCode', tokenCode, { min: 6, max: 6, pattern: TOKEN_CODE_PATTERN });
  v.str('sourceIdentity', sourceIdentity, { min: 2, max: 64, pattern: SESSION_NAME_PATTERN });
  sessionPolicies(v, policy, policyArns);
  v.count('tags', `[${tags.map((t) => `${t.key}=${t.value}`).join(', ')}]`, tags.length, 50);
  tags.forEach((t, i) => {
    v.str(`tags.${i + 1}.member.key`, t.key, { min: 1, max: 128, pattern: TAG_PATTERN.replace(/\*$/, '+') });
    v.str(`tags.${i + 1}.member.value`, t.value, { min: 0, max: 256, pattern: TAG_PATTERN });
  });
  v.count('transitiveTagKeys', JSON.stringify(transitive), transitive.length, 50);
  v.throwIfAny();

  checkPolicyDocument(policy);

  // A federated user's credentials call no STS action but GetCallerIdentity.
  if (caller.session?.kind === 'federation') throw accessDenied('Cannot call AssumeRole with federation credentials');
  const deny = () => notAuthorized(caller.arn, 'sts:AssumeRole', roleArn!);
  const role = state.roles.get(roleArn!);
  if (!role || !trusts(role, caller)) throw deny();
  if (role.requireExternalId !== undefined && externalId !== role.requireExternalId) throw deny();
  const mfaNow = checkMfa(state, caller, serial, tokenCode);
  const mfaPresent = mfaNow || caller.session?.mfaAuthenticated === true;
  if (role.requireMfa && !mfaPresent) throw deny();
  // Source identity is sticky along a chain; a different one is refused, not replaced.
  const inheritedSource = caller.session?.sourceIdentity;
  if (inheritedSource !== undefined && sourceIdentity !== undefined && sourceIdentity !== inheritedSource) throw deny();

  const durationSeconds = duration ?? 3600;
  // AWS's 1-hour rule: AssumeRole with temporary credentials of any kind (a role's, SSO's, a
  // GetSessionToken session's even with MFA) gives at most an hour; AWS calls it role chaining.
  if (caller.session !== undefined && durationSeconds > 3600) {
    throw validationError('The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
  }
  if (durationSeconds > role.maxSessionDuration) {
    throw validationError('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
  }

  let packed: number | undefined;
  if (policy !== undefined || policyArns.length > 0 || tags.length > 0) {
    packed = packedPolicySize(policy, policyArns, tags);
    if (packed > 100) {
      throw new StsError('PackedPolicyTooLarge', `Packed policy consumes ${packed}% of allotted space, please use smaller policy.`, 400);
    }
  }

  // Transitive tags ride along a chain; tags set on this call win over inherited ones.
  const inheritedKeys = caller.session?.transitiveTagKeys ?? [];
  const inherited = (caller.session?.tags ?? []).filter((t) => inheritedKeys.includes(t.key));
  const newKeys = new Set(tags.map((t) => t.key.toLowerCase()));
  const allTags = [...inherited.filter((t) => !newKeys.has(t.key.toLowerCase())), ...tags];
  const effectiveSource = sourceIdentity ?? inheritedSource;

  const session = state.issueSession(
    {
      kind: 'role',
      ...(caller.session !== undefined ? { chained: true } : {}),
      accountId: role.accountId,
      arn: `arn:aws:sts::${role.accountId}:assumed-role/${role.roleName}/${sessionName}`,
      userId: `${role.roleId}:${sessionName}`,
      role,
      roleSessionName: sessionName!,
      ...(rootUser(caller) ? { user: rootUser(caller)! } : {}),
      mfaAuthenticated: mfaPresent,
      ...(effectiveSource !== undefined ? { sourceIdentity: effectiveSource } : {}),
      tags: allTags,
      transitiveTagKeys: [...new Set([...inheritedKeys, ...transitive])],
    },
    durationSeconds,
  );

  return successXml(
    'AssumeRole',
    [
      effectiveSource !== undefined ? ['SourceIdentity', effectiveSource] : undefined,
      [
        'AssumedRoleUser',
        [
          ['AssumedRoleId', session.userId],
          ['Arn', session.arn],
        ],
      ],
      credentialsXml(session),
      packed !== undefined ? ['PackedPolicySize', packed] : undefined,
    ],
    requestId,
  );
}

export function getSessionToken(state: EmulatorState, caller: Caller, params: URLSearchParams, requestId: string): string {
  const serial = opt(params, 'SerialNumber');
  const tokenCode = opt(params, 'TokenCode');
  const v = new Validator();
  const duration = v.int('durationSeconds', opt(params, 'DurationSeconds'), 900, 129600);
  v.str('serialNumber', serial, { min: 9, max: 256, pattern: SERIAL_PATTERN });
  v.str('tokenCode', tokenCode, { min: 6, max: 6, pattern: TOKEN_CODE_PATTERN });
  v.throwIfAny();

  if (!caller.key) throw accessDenied('Cannot call GetSessionToken with session credentials');
  const user = caller.key.user;
  const mfa = checkMfa(state, caller, serial, tokenCode);
  const session = state.issueSession(
    {
      kind: 'session',
      accountId: user.accountId,
      // Calls made with these credentials are the user's own calls.
      arn: user.arn,
      userId: user.userId,
      user,
      mfaAuthenticated: mfa,
      tags: [],
      transitiveTagKeys: [],
    },
    duration ?? 43200,
  );
  return successXml('GetSessionToken', [credentialsXml(session)], requestId);
}

// The federated user's name: 2–32 characters (the STS model's userNameType).
const FEDERATED_NAME_PATTERN = '[\\w+=,.@-]*';

/**
 * GetFederationToken: temporary credentials for a federated user, callable only with an IAM
 * user's long-term key (AWS refuses session credentials, MFA or not, and takes no MFA code).
 * The session's permissions are the intersection of the user's and the session policies:
 * with no session policy at all the credentials can do nothing.
 */
export function getFederationToken(state: EmulatorState, caller: Caller, params: URLSearchParams, requestId: string): string {
  const name = opt(params, 'Name');
  const policy = opt(params, 'Policy');
  const policyArns = memberList(params, 'PolicyArns', '.arn');
  const v = new Validator();
  v.str('name', name, { required: true, min: 2, max: 32, pattern: FEDERATED_NAME_PATTERN });
  const duration = v.int('durationSeconds', opt(params, 'DurationSeconds'), 900, 129600);
  sessionPolicies(v, policy, policyArns);
  v.throwIfAny();
  checkPolicyDocument(policy);
  if (!caller.key) throw accessDenied('Cannot call GetFederationToken with session credentials');
  const user = caller.key.user;
  const arn = `arn:aws:sts::${user.accountId}:federated-user/${name!}`;
  if (user.denied?.includes('sts:GetFederationToken')) {
    throw accessDenied(`User: ${user.arn} is not authorized to perform: sts:GetFederationToken on resource: ${arn} with an explicit deny in an identity-based policy`);
  }
  const packed = policy !== undefined || policyArns.length > 0 ? packedPolicySize(policy, policyArns, []) : undefined;
  if (packed !== undefined && packed > 100) {
    throw new StsError('PackedPolicyTooLarge', `Packed policy consumes ${packed}% of allotted space, please use smaller policy.`, 400);
  }
  const session = state.issueSession(
    {
      kind: 'federation',
      accountId: user.accountId,
      arn,
      userId: `${user.accountId}:${name!}`,
      user,
      mfaAuthenticated: false,
      ...(policy !== undefined ? { sessionPolicy: policy } : {}),
      tags: [],
      transitiveTagKeys: [],
    },
    duration ?? 43200,
  );
  return successXml(
    'GetFederationToken',
    [
      credentialsXml(session),
      ['FederatedUser', [['FederatedUserId', session.userId], ['Arn', session.arn]]],
      packed !== undefined ? ['PackedPolicySize', packed] : undefined,
    ],
    requestId,
  );
}

/** Runs one STS action for an authenticated caller and returns the response XML. */
export function dispatch(state: EmulatorState, caller: Caller, params: URLSearchParams, requestId: string): string {
  const action = params.get('Action');
  if (action === null || action === '') throw new StsError('MissingAction', 'Missing Action', 400);
  const version = params.get('Version') ?? 'NO_VERSION_SPECIFIED';
  if (version === STS_VERSION) {
    switch (action) {
      case 'GetCallerIdentity':
        return getCallerIdentity(caller, requestId);
      case 'AssumeRole':
        return assumeRole(state, caller, params, requestId);
      case 'GetSessionToken':
        return getSessionToken(state, caller, params, requestId);
      case 'GetFederationToken':
        return getFederationToken(state, caller, params, requestId);
    }
  }
  throw new StsError('InvalidAction', `Could not find operation ${action} for version ${version}`, 400);
}
