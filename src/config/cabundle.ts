// The CA bundle AWS calls trust, in the AWS CLI's order: AWS_CA_BUNDLE, then the profile's
// ca_bundle. Unset: Node's bundled Mozilla roots (src/aws/http.ts, which also says why
// Node's own NODE_EXTRA_CA_CERTS and NODE_TLS_REJECT_UNAUTHORIZED are not honoured).

export interface CaBundle {
  path: string;
  /** Where the setting came from, for messages. */
  from: string;
}

export function caBundleSetting(profile: { ca_bundle?: string } | undefined, profileName?: string, env: NodeJS.ProcessEnv = process.env): CaBundle | undefined {
  if (env.AWS_CA_BUNDLE?.trim()) return { path: env.AWS_CA_BUNDLE.trim(), from: 'AWS_CA_BUNDLE' };
  const p = profile?.ca_bundle?.trim();
  if (p) return { path: p, from: `ca_bundle in ${profileName ? `profile ${profileName}` : 'the profile'}` };
  return undefined;
}
