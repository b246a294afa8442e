// One failure type for the whole program: a cause and a fix, printed as one line.
// Everything that reaches the user goes through here, so no stack trace or secret leaks
// out of an unexpected error unless --debug asks for it.
//
// Every code is listed below with whether the failure is transient: the service or the
// network failed (worth riding out on a cached credential that is still valid), as opposed
// to a refusal (AWS said no: AccessDenied, an expired or unknown key…) or a local problem,
// which no amount of waiting fixes and which must never be answered with old credentials.

const T = true;
const F = false;

const CODES = {
  // STS. A 4xx answer is a refusal named by its code; only the network, 5xx and throttling are transient.
  StsUnreachable: T, StsThrottled: T, StsError: T, StsMalformed: T, StsNotXml: T,
  StsRefused: F, AccessDenied: F, ExpiredToken: F, InvalidClientTokenId: F, SignatureDoesNotMatch: F,
  ClockSkew: F, ValidationError: F, DurationTooLong: F, ChainedDurationTooLong: F, RegionDisabled: F, MalformedPolicyDocument: F,
  PackedPolicyTooLarge: F, MfaCodeRejected: F, MfaSerialInvalid: F, ExpiredOnArrival: F, BadCredentials: F,
  // The TLS certificate of an AWS endpoint not trusted: a proxy that inspects TLS (needs
  // AWS_CA_BUNDLE), a captive portal or an attacker. Nothing is sent; like the network being
  // down, a still-valid cached credential may be served.
  TlsUntrusted: T,
  // IAM Identity Center.
  SsoUnreachable: T, SsoThrottled: T, SsoMalformed: T, SsoError: T,
  SsoRefused: F, SsoBadRequest: F, SsoBadScopes: F, SsoClientRejected: F, SsoLoginDenied: F, SsoLoginExpired: F, SsoLoginTimeout: F,
  SsoLoginRequired: F, SsoNoAccess: F, SsoTokenRejected: F, BadSsoProfile: F, BadSsoSession: F, UnknownSsoSession: F,
  NotSso: F, NothingToLogIn: F, PopulateCheckFailed: F,
  // IAM (keyrole rotate).
  IamUnreachable: T, IamThrottled: T, IamServiceFailure: T, IamError: T, IamMalformed: F,
  IamRefused: F, IamAccessDenied: F, AccessKeyLimit: F, IamNoSuchEntity: F, IamInvalidUserType: F, IamValidation: F,
  IamInvalidInput: F, IamConcurrentModification: F, IamTemporarilyUnmodifiable: F, OldKeyNotDeleted: F,
  NewKeyUnverified: F, NewKeyWrongUser: F, NewKeyNotStored: F,
  // The clock.
  ClockWrong: F, BadNtpServers: F,
  // Settings and config files.
  Usage: F, UnknownProfile: F, UnknownSetting: F, DuplicateSetting: F, BadConfig: F, BadConfigLine: F, BadConfigValue: F,
  ConfigNotUtf8: F, ConfigTooLarge: F, ConfigUnreadable: F, ConfigWriteFailed: F, BadDuration: F, BadEndpoint: F,
  BadRegion: F, BadRoleArn: F, BadSessionName: F, BadSource: F, BadTags: F, BadExternalId: F, BadFlag: F, BadMfaSerial: F,
  BadPolicyArn: F, BadSourceIdentity: F, BadCacheChoice: F, BadKeychainChoice: F, BadCaBundle: F, NoSource: F, NoRole: F,
  AmbiguousSource: F, ProfileCycle: F, ProfileShadowed: F,
  // The keychain and the sources in it.
  AddonUnavailable: F, NoSecretService: F, KeychainLocked: F, KeychainError: F, KeychainValueTooLarge: F, KeychainAmbiguous: F, KeychainTimeout: F, KeychainBadBus: F,
  SourceNotFound: F, SourceExists: F, SourceCorrupt: F, SourceFromNewerKeyrole: F, BadKey: F, BadKeyInput: F,
  AmbiguousKeyInput: F, KeyringUnavailable: F, KeyringQuota: F, KeychainReadBack: F,
  // The file store (KEYROLE_KEYCHAIN=file).
  FileStoreLocked: F, FileStoreWrongPassphrase: F, FileStoreNoPassphrase: F, FileStoreMissing: F, FileStoreUnusable: F,
  PassphraseSourceFailed: F, PassphraseMismatch: F, BadUnlockTimeout: F, StoreMoveFailed: F,
  // The cache and the single-flight lock.
  BadCacheKey: F, CacheDirForeign: F, CacheDirSymlink: F, CacheDirUnusable: F, CacheDirWritable: F, CacheFileExposed: F, SealKeyUnsafe: F,
  CacheFileSymlink: F, CacheWriteFailed: F, LockTimeout: F, LockPrompt: F, LockUnusable: F,
  // MFA codes and prompts.
  BadMfaCode: F, MfaCodeReused: F, MfaNeedsKeys: F, MfaNoPrompt: F, MfaProcessFailed: F, NoTerminal: F, PromptTimeout: F,
  Cancelled: F, StdinTooLarge: F,
  // Commands.
  CommandNotFound: F, CommandNotExecutable: F, ExecFailed: F, NestedExec: F, DoctorFoundProblems: F,
  BadAnswer: F, FilesChanged: F,
  // The credential endpoint (exec --server, serve).
  EndpointFailed: F, EndpointRefused: F, PortInUse: F, StaleServeToken: F,
  // The console (federation sign-in).
  SigninUnreachable: T, FederationDenied: F, NoConsole: F, ConsoleNeedsMfa: F, ConsoleLoginSession: F, ConsoleDurationChained: F, BadDestination: F, BadSigninUrl: F,
  FederationRefused: F, SigninMalformed: T,
  // AWS Sign-In sessions (`keyrole login` for a keyrole_login_session profile).
  LoginUnreachable: T, LoginThrottled: T, LoginServiceError: T, LoginMalformed: T,
  LoginExpired: F, LoginCredentialsChanged: F, LoginNotPermitted: F, LoginRefused: F, LoginRequired: F, LoginDenied: F, BadLoginSession: F, NotSignin: F,
} as const satisfies Record<string, boolean>;

/** Every failure keyrole names. */
export type ErrorCode = keyof typeof CODES;

export class KeyroleError extends Error {
  readonly fix: string | undefined;
  readonly exitCode: number;
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, fix?: string, exitCode = 1) {
    super(message);
    this.name = 'KeyroleError';
    this.code = code;
    this.fix = fix;
    this.exitCode = exitCode;
  }
  /** The service or the network failed, rather than a request being refused (see CODES). */
  get transient(): boolean {
    return CODES[this.code];
  }
  /** The single stderr line. */
  line(): string {
    return this.fix ? `keyrole: ${this.message}; ${this.fix}` : `keyrole: ${this.message}`;
  }
}

/** A code this version of keyrole knows (for codes that crossed a process boundary). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(CODES, code);
}

/**
 * A failure of the service or the network, worth riding out on a cached credential that is
 * still valid. False for every refusal and local problem, and for anything not a KeyroleError.
 */
export function isTransient(err: unknown): boolean {
  return err instanceof KeyroleError && err.transient;
}

export const usageError = (message: string, fix = 'see keyrole --help') =>
  new KeyroleError('Usage', message, fix, 2);

/** Collapse any text to one line so a multi-line cause never breaks the one-line contract. */
export const oneLine = (s: string) => s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
