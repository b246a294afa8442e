// IAM access-key calls for `keyrole rotate`: ListAccessKeys, CreateAccessKey,
// UpdateAccessKey, DeleteAccessKey, GetUser. Query protocol like STS
// (`Action=…&Version=2010-05-08`), signed for service `iam` in us-east-1, with IAM's own
// XML namespace and AWS's quota of two access keys per user.

import { StsError } from './errors.ts';
import { newAccessKeyId, newSecretAccessKey } from './state.ts';
import type { AccessKey, EmulatorState, User } from './state.ts';
import type { Caller } from './sts.ts';
import { isoSeconds } from './sts.ts';
import type { SignedRequest } from './sigv4.ts';
import { successXml } from './xml.ts';
import type { XmlChild } from './xml.ts';

export const IAM_VERSION = '2010-05-08';
export const IAM_NAMESPACE = 'https://iam.amazonaws.com/doc/2010-05-08/';
export const ACCESS_KEYS_PER_USER = 2;

/**
 * Whether a request is meant for IAM: it carries IAM's API version (the SDKs always send
 * one). The credential scope is not used to route, so a request signed for the wrong
 * service is refused by the service it names, with SignatureDoesNotMatch, as AWS does.
 */
export function isIamRequest(_req: SignedRequest, params: URLSearchParams): boolean {
  return params.get('Version') === IAM_VERSION;
}

const noSuchEntity = (message: string) => new StsError('NoSuchEntity', message, 404);

/** The user an access-key call acts on: UserName, else the calling user. */
function targetUser(state: EmulatorState, caller: Caller, params: URLSearchParams): User {
  const name = params.get('UserName');
  if (name !== null) {
    if (!/^[\w+=,.@-]{1,128}$/.test(name)) {
      throw new StsError('ValidationError', `1 validation error detected: Value '${name}' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+`, 400);
    }
    const user = state.users.get(`arn:aws:iam::${caller.accountId}:user/${name}`);
    if (!user) throw noSuchEntity(`The user with name ${name} cannot be found.`);
    return user;
  }
  const user = caller.key?.user ?? (caller.session?.kind === 'session' ? caller.session.user : undefined);
  if (!user) throw new StsError('ValidationError', 'Must specify userName when calling with non-User credentials', 400);
  return user;
}

function keysOf(state: EmulatorState, user: User): AccessKey[] {
  return [...state.accessKeys.values()].filter((k) => k.user.arn === user.arn);
}

function findKey(state: EmulatorState, user: User, params: URLSearchParams): AccessKey {
  const id = params.get('AccessKeyId');
  if (id === null) throw new StsError('ValidationError', "1 validation error detected: Value null at 'accessKeyId' failed to satisfy constraint: Member must not be null", 400);
  const key = state.accessKeys.get(id);
  if (!key || key.user.arn !== user.arn) throw noSuchEntity(`The Access Key with id ${id} cannot be found.`);
  return key;
}

function keyMeta(k: AccessKey): XmlChild {
  return ['member', [
    ['UserName', k.user.userName],
    ['AccessKeyId', k.accessKeyId],
    ['Status', k.status ?? 'Active'],
    k.createDate !== undefined ? ['CreateDate', isoSeconds(k.createDate)] : undefined,
  ]];
}

/** Runs one IAM action for an authenticated caller and returns the response XML. */
export function dispatchIam(state: EmulatorState, caller: Caller, params: URLSearchParams, requestId: string): string {
  const action = params.get('Action');
  if (action === null || action === '') throw new StsError('MissingAction', 'Missing Action', 400);
  const version = params.get('Version') ?? 'NO_VERSION_SPECIFIED';
  const ok = (result: XmlChild[]) => successXml(action, result, requestId, IAM_NAMESPACE);
  if (version === IAM_VERSION) {
    switch (action) {
      case 'GetUser': {
        const user = targetUser(state, caller, params);
        return ok([['User', [['Path', '/'], ['UserName', user.userName], ['UserId', user.userId], ['Arn', user.arn]]]]);
      }
      case 'ListAccessKeys': {
        const user = targetUser(state, caller, params);
        return ok([['AccessKeyMetadata', keysOf(state, user).map(keyMeta)], ['IsTruncated', 'false']]);
      }
      case 'CreateAccessKey': {
        const user = targetUser(state, caller, params);
        if (keysOf(state, user).length >= ACCESS_KEYS_PER_USER) {
          throw new StsError('LimitExceeded', `Cannot exceed quota for AccessKeysPerUser: ${ACCESS_KEYS_PER_USER}`, 409);
        }
        const key: AccessKey = { accessKeyId: newAccessKeyId('AKIA'), secretAccessKey: newSecretAccessKey(), user, status: 'Active', createDate: state.now() };
        state.accessKeys.set(key.accessKeyId, key);
        return ok([['AccessKey', [
          ['UserName', user.userName],
          ['AccessKeyId', key.accessKeyId],
          ['Status', 'Active'],
          ['SecretAccessKey', key.secretAccessKey],
          ['CreateDate', isoSeconds(key.createDate!)],
        ]]]);
      }
      case 'UpdateAccessKey': {
        const user = targetUser(state, caller, params);
        const key = findKey(state, user, params);
        const status = params.get('Status');
        if (status !== 'Active' && status !== 'Inactive') {
          throw new StsError('ValidationError', `1 validation error detected: Value '${status}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]`, 400);
        }
        key.status = status;
        return ok([]);
      }
      case 'DeleteAccessKey': {
        const user = targetUser(state, caller, params);
        const key = findKey(state, user, params);
        state.accessKeys.delete(key.accessKeyId);
        return ok([]);
      }
    }
  }
  throw new StsError('InvalidAction', `Could not find operation ${action} for version ${version}`, 400);
}

/** For the /_emulator/access-keys control: a user's keys, without secrets. */
export function accessKeysView(state: EmulatorState, userName: string): { accessKeyId: string; status: string }[] {
  return [...state.accessKeys.values()].filter((k) => k.user.userName === userName).map((k) => ({ accessKeyId: k.accessKeyId, status: k.status ?? 'Active' }));
}
