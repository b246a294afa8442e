// The environment variables through which the AWS SDKs and the AWS CLI find credentials:
// one list, so what `exec` removes from its child, what `export` unsets in a shell, what
// `exec --server` removes and what `serve` tells a person to unset cannot drift apart.

/** The credentials themselves, which `exec` and `export` set. */
export const KEY_VARS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_CREDENTIAL_EXPIRATION'] as const;

/**
 * What must go where keyrole puts keys in the environment: a profile (the JS SDK skips
 * environment keys when AWS_PROFILE is set, and botocore reads the profile's settings),
 * and the old names of the session token and the credentials file, which a stale shell may
 * still hold.
 */
export const BESIDE_KEYS_VARS = ['AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_SECURITY_TOKEN', 'AWS_CREDENTIAL_FILE'] as const;

/**
 * Every variable through which an SDK finds credentials before (or instead of) a container
 * endpoint: keys in the environment and a profile win over it in every SDK's chain, web
 * identity comes before it, the relative URI is preferred to the full one, and another
 * token variable would send another token. `exec --server` removes all of them and `serve`
 * prints them to unset; each then sets its own endpoint variables.
 */
export const CREDENTIAL_VARS = [
  ...KEY_VARS, ...BESIDE_KEYS_VARS,
  'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN', 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
] as const;
