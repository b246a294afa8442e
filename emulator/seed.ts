// What the emulator knows at start-up. Everything is fake and says so in its name:
// these keys must never look like something worth stealing.

export interface SeedAccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface SeedUser {
  userName: string;
  accountId: string;
  /** AIDA… id; derived from the ARN when omitted. */
  userId?: string;
  accessKeys: SeedAccessKey[];
}

export interface SeedRole {
  roleArn: string;
  /** AROA… id; derived from the ARN when omitted. */
  roleId?: string;
  /** Seconds, 3600–43200; AWS's default is 3600. */
  maxSessionDuration?: number;
  /** The trust policy's sts:ExternalId condition. */
  requireExternalId?: string;
  /** The trust policy's aws:MultiFactorAuthPresent condition. */
  requireMfa?: boolean;
  /**
   * Principals the trust policy names: user/role ARNs or `arn:aws:iam::ACCOUNT:root`.
   * Omitted means any principal in any account may assume the role.
   */
  trustedPrincipals?: string[];
}

export interface SeedMfaDevice {
  /** `arn:aws:iam::ACCOUNT:mfa/NAME` for virtual devices. */
  serial: string;
  /** Base32 TOTP seed. */
  secret: string;
  /** When set, only this IAM user (in the serial's account) may present the device. */
  userName?: string;
}

export interface Seed {
  users: SeedUser[];
  roles: SeedRole[];
  mfaDevices: SeedMfaDevice[];
}

export const DEMO_ACCOUNT_ID = '111122223333';
export const DEMO_ACCESS_KEY_ID = 'AKIAKEYROLEDEMO00001';
export const DEMO_SECRET_ACCESS_KEY = 'keyroleDemoSecret/DoNotUse+0000000000000';
export const DEMO_MFA_SERIAL = `arn:aws:iam::${DEMO_ACCOUNT_ID}:mfa/alice`;
export const DEMO_MFA_SECRET = 'KEYROLEDEMOMFASECRETALICE2345672';

export const DEFAULT_SEED: Seed = {
  users: [
    {
      userName: 'alice',
      accountId: DEMO_ACCOUNT_ID,
      userId: 'AIDAKEYROLEDEMOALICE1',
      accessKeys: [{ accessKeyId: DEMO_ACCESS_KEY_ID, secretAccessKey: DEMO_SECRET_ACCESS_KEY }],
    },
  ],
  roles: [
    { roleArn: `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`, maxSessionDuration: 43200 },
    { roleArn: `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/ReadOnly`, maxSessionDuration: 3600 },
    { roleArn: `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/MfaAdmin`, maxSessionDuration: 43200, requireMfa: true },
    {
      roleArn: `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Partner`,
      maxSessionDuration: 3600,
      requireExternalId: 'keyrole-demo-external-id',
    },
  ],
  mfaDevices: [{ serial: DEMO_MFA_SERIAL, secret: DEMO_MFA_SECRET, userName: 'alice' }],
};
