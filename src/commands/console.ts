// `keyrole console [profile]`: the AWS console signed in as the profile, through the
// federation endpoint (the rules are in src/aws/federation.ts; this file wires them).
//
// The sign-in URL carries a bearer token (15 minutes, one use). It is printed only when
// asked (--url) or when no browser can be opened; otherwise it goes into a 0600 page in
// keyrole's private 0700 directory (<KEYROLE_HOME>/console) and the browser is given that
// page's path: another local user can read any process's argv (/proc/<pid>/cmdline), not
// the page. The browser may read the page any time after its opener returns, so keyrole
// does not remove it at once: it removes the pages whose token has lapsed (older than 15
// minutes) each time it runs, and the page of a run whose browser could not be opened at once.

import { randomBytes } from 'node:crypto';
import { readdirSync, statSync, unlinkSync } from 'node:fs';
import { writeAtomic } from '../util/atomic.ts';
import { join } from 'node:path';
import { loadAwsFiles } from '../config/files.ts';
import { parseDuration, resolveSettings, SESSION_DURATION_MAX, type Settings } from '../config/settings.ts';
import { localUser } from '../credentials/user.ts';
import { planProfile } from '../credentials/plan.ts';
import { keyroleHome, privateDir } from '../util/home.ts';
import { debug, redactKeyId } from '../util/debug.ts';
import { usageError } from '../util/errors.ts';
import { printable } from '../util/printable.ts';
import { openBrowser } from '../util/browser.ts';
import {
  ALLOW_ALL_POLICY, SIGNIN_TOKEN_MINUTES, consoleDestination, consolePlan, federationEndpoint, federationName, loginUrl,
  partitionOf, redirectPage, requestSigninToken, type ConsolePlan,
} from '../aws/federation.ts';
import type { TempCredentials } from '../aws/sts.ts';
import { parseCommand } from './args.ts';
import { profileArg, profileSession } from './session.ts';
import { stsTarget } from '../credentials/resolve.ts';

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
  const s = resolveSettings(files, profile, {}, localUser());

  // Everything that can be refused without AWS is refused first.
  const region = v.region ?? s.region;
  const partition = partitionOf(region);
  const endpoint = federationEndpoint(partition);
  const destination = consoleDestination(region, partition, v.destination);
  const duration = v.duration === undefined ? undefined : parseDuration(v.duration, '--duration', 'pass --duration 3600, for example', SESSION_DURATION_MAX);
  const plan = consolePlan(planProfile(files, s), { duration, allowNoMfa: v['no-mfa'] });
  debug(`console for profile ${profile}: ${plan.kind} credentials, region ${region} (${partition}), federation endpoint ${new URL(endpoint).host}, destination ${destination}`);

  const creds = await consoleCredentials(profile, s, plan, v.cache);
  const token = await requestSigninToken(endpoint, creds, plan.sessionDuration, profile, s.caBundle);
  const url = loginUrl(endpoint, token, destination);

  if (v.url) {
    process.stdout.write(`${printable(url)}\n`);
    return;
  }
  const page = writePage(url);
  if (await openBrowser({ file: page })) {
    process.stderr.write(`keyrole: opening the AWS console for profile ${printable(profile)} (${region}) in your browser; the sign-in is good once, for ${SIGNIN_TOKEN_MINUTES} minutes\n`);
    return;
  }
  removePage(page);
  process.stderr.write(`keyrole: no browser could be opened (set BROWSER, or run where there is a display); the sign-in URL follows on stdout: a secret, good once for ${SIGNIN_TOKEN_MINUTES} minutes\n`);
  process.stdout.write(`${printable(url)}\n`);
}

/** Role and SSO profiles: their own credentials, as `keyrole process` gets them. No role: a GetFederationToken session. */
async function consoleCredentials(profile: string, s: Settings, plan: ConsolePlan, cache: string | undefined): Promise<TempCredentials> {
  if (plan.kind !== 'federation') return (await profileSession(profile, cache)).credentials;
  const { loadSource } = await import('../keychain/keychain.ts');
  const { getFederationToken } = await import('../aws/federation-token.ts');
  const keys = await loadSource(s.source);
  const name = federationName(s.source);
  debug(`GetFederationToken as ${name} with source "${s.source}" (key ${redactKeyId(keys.accessKeyId)}), a session policy that keeps the user's permissions, ${plan.federationDuration} s`);
  return getFederationToken(keys, stsTarget(s), { name, durationSeconds: plan.federationDuration!, policy: ALLOW_ALL_POLICY });
}

const PAGE = /^signin-[0-9a-f]{24}\.html$/;

/** Writes the redirect page (0600, atomically, under a random name) into the private directory, after removing lapsed ones. */
function writePage(url: string): string {
  const dir = privateDir(join(privateDir(keyroleHome()), 'console'));
  const lapsed = Date.now() - SIGNIN_TOKEN_MINUTES * 60 * 1000;
  for (const name of readdirSync(dir)) {
    if (!PAGE.test(name)) continue;
    try {
      if (statSync(join(dir, name)).mtimeMs < lapsed) unlinkSync(join(dir, name));
    } catch { /* gone already, or another keyrole's to remove */ }
  }
  const path = join(dir, `signin-${randomBytes(12).toString('hex')}.html`);
  writeAtomic(path, redirectPage(url));
  debug(`wrote the sign-in page ${path}`);
  return path;
}

function removePage(path: string): void {
  try { unlinkSync(path); } catch { /* already gone */ }
}
