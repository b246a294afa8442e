// A source (a profile's long-term IAM user keys) as keyrole keeps it in the keychain: the
// service it is kept under, the shape of a long-term key pair, and the JSON entry. Pure: the
// config's migration and the fuzz tests use it without a keychain.

export const SOURCE_SERVICE = 'keyrole:source';

export interface SourceKeys {
  accessKeyId: string;
  secretAccessKey: string;
  storedAt?: string;
}

const ACCESS_KEY_ID = /^AKIA[A-Z0-9]{16}$/;
const SECRET_ACCESS_KEY = /^[A-Za-z0-9/+]{40}$/;

/** Why a pair is not a long-term IAM user key, or undefined when it looks like one. */
export function keyShapeProblem(accessKeyId: string, secretAccessKey: string): string | undefined {
  if (/^ASIA/.test(accessKeyId)) return 'the access key id starts with ASIA, so it is a temporary key; keyrole stores long-term IAM user keys (AKIA…)';
  if (!ACCESS_KEY_ID.test(accessKeyId)) return 'the access key id is not AKIA followed by 16 capital letters or digits';
  if (!SECRET_ACCESS_KEY.test(secretAccessKey)) return 'the secret access key is not 40 characters of letters, digits, / and +';
  return undefined;
}

export function encodeSource(keys: SourceKeys): string {
  return JSON.stringify({ keyrole: 1, kind: 'source', AccessKeyId: keys.accessKeyId, SecretAccessKey: keys.secretAccessKey, StoredAt: keys.storedAt });
}

/** Parses a stored source; undefined when the entry is not something keyrole wrote. */
export function decodeSource(raw: string): SourceKeys | undefined {
  try {
    const v = JSON.parse(raw) as Record<string, unknown>;
    if (v.keyrole !== 1 || v.kind !== 'source') return undefined;
    const id = v.AccessKeyId;
    const secret = v.SecretAccessKey;
    if (typeof id !== 'string' || typeof secret !== 'string' || keyShapeProblem(id, secret)) return undefined;
    return { accessKeyId: id, secretAccessKey: secret, storedAt: typeof v.StoredAt === 'string' ? v.StoredAt : undefined };
  } catch {
    return undefined;
  }
}

/** The stored text of a source that did not decode, when a newer keyrole wrote it. */
export function fromNewerKeyrole(raw: string): boolean {
  return /"keyrole"\s*:\s*([2-9]|\d{2,})/.test(raw);
}
