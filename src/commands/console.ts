// `keyrole console [profile]`: the AWS console signed in as the profile, through the
// federation endpoint (the rules are in src/aws/federation.ts; this file wires them).
//
// The sign-in URL carries a bearer token (15 minutes, one use). It is printed only when
// asked (--url) or when no browser can be opened; otherwise the browser is given a 0600 page
// in keyrole's private directory (<KEYROLE_HOME>/console) that forwards to it
// (src/util/pagefile.ts), so the token is never on a browser's argv.

import { loadAwsFiles } from '../config/files.ts';
import { parseDuration, resolveSettings, SESSION_DURATION_MAX, type Settings } from '../config/settings.ts';
import { localUser } from '../credentials/user.ts';
import { planProfile } from '../credentials/plan.ts';
import { debug, redactKeyId } from '../util/debug.ts';
import { usageError } from '../util/errors.ts';
import { printable } from '../util/printable.ts';
import { openPrivately } from '../util/pagefile.ts';
import {
  ALLOW_ALL_POLICY, SIGNIN_TOKEN_MINUTES, consoleDestination, consolePlan, federationEndpoint, federationName, loginUrl,
  partitionOf, requestSigninToken, type ConsolePlan,
} from '../aws/federation.ts';
import type { TempCredentials } from '../aws/sts.ts';
import { parseCommand } from './args.ts';
import { profileArg } from './session.ts';
import { resolveCredentials } from '../credentials/resolve.ts';
import { stsTarget } from '../credentials/target.ts';
import type { AwsFiles } from '../config/files.ts';

export async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('console', argv, {
    url: { type: 'boolean' },
    destination: { type: 'string' },
    region: { type: 'string' },
    duration: { type: 'string' },
    'no-mfa': { type: 'boolean' },
    cache: { type: 'string' },
  });
  if (positionals.length > 1) throw usageError(`console takes one profile, got ${positionals.length}`, 'keyrole console [profile]');
  const profile = profileArg('console', positionals[0]);
  const files = await loadAwsFiles();
  const s = resolveSettings(files, profile, { cache: v.cache }, localUser());

  // Everything that can be refused without AWS is refused first.
  const region = v.region ?? s.region;
  const partition = partitionOf(region);
  const endpoint = federationEndpoint(partition);
  const destination = consoleDestination(region, partition, v.destination);
  const duration = v.duration === undefined ? undefined : parseDuration(v.duration, '--duration', 'pass --duration 3600, for example', SESSION_DURATION_MAX);
  const plan = consolePlan(planProfile(files, s), { duration, allowNoMfa: v['no-mfa'] });
  debug(`console for profile ${profile}: ${plan.kind} credentials, region ${region} (${partition}), federation endpoint ${new URL(endpoint).host}, destination ${destination}`);

  const creds = await consoleCredentials(files, s, plan);
  const token = await requestSigninToken(endpoint, creds, plan.sessionDuration, profile, s.caBundle);
  const url = loginUrl(endpoint, token, destination);

  if (v.url) {
    process.stdout.write(`${printable(url)}\n`);
    return;
  }
  if (await openPrivately(url, { dir: 'console', lapseMs: SIGNIN_TOKEN_MINUTES * 60 * 1000, title: 'Signing in to the AWS console' })) {
    process.stderr.write(`keyrole: opening the AWS console for profile ${printable(profile)} (${region}) in your browser; the sign-in is good once, for ${SIGNIN_TOKEN_MINUTES} minutes\n`);
    return;
  }
  process.stderr.write(`keyrole: no browser could be opened (set BROWSER, or run where there is a display); the sign-in URL follows on stdout: a secret, good once for ${SIGNIN_TOKEN_MINUTES} minutes\n`);
  process.stdout.write(`${printable(url)}\n`);
}

/** Role and SSO profiles: their own credentials, as `keyrole process` gets them. No role: a GetFederationToken session. */
async function consoleCredentials(files: AwsFiles, s: Settings, plan: ConsolePlan): Promise<TempCredentials> {
  if (plan.kind !== 'federation') return (await resolveCredentials(files, s)).entry.credentials;
  const { loadSource } = await import('../keychain/sources.ts');
  const { getFederationToken } = await import('../aws/federation-token.ts');
  const keys = await loadSource(s.source);
  const name = federationName(s.source);
  debug(`GetFederationToken as ${name} with source "${s.source}" (key ${redactKeyId(keys.accessKeyId)}), a session policy that keeps the user's permissions, ${plan.federationDuration} s`);
  return getFederationToken(keys, stsTarget(s), { name, durationSeconds: plan.federationDuration!, policy: ALLOW_ALL_POLICY });
}
