// `keyrole status [profile] [--json | --short]`: time left on the profile's credentials, on
// the MFA session and the SSO token behind them, from the cache alone (no network, no SDK),
// fast enough for a shell prompt, so it never asks for the file store's passphrase (a locked
// store is said: src/keychain/prepare.ts). The profile defaults to the one `keyrole exec`
// runs (KEYROLE_EXEC), then AWS_PROFILE.

import { loadAwsFiles } from '../config/files.ts';
import { resolveSettings } from '../config/settings.ts';
import { localUser } from '../credentials/user.ts';
import { describeLogin, describeToken, personNeeded, profileStatus, type LayerStatus, type PersonNeeded, type ProfileStatus } from '../credentials/status.ts';
import { asksForCode } from '../credentials/plan.ts';
import { isoSeconds } from '../credentials/blob.ts';
import { KeyroleError, usageError } from '../util/errors.ts';
import { fileStoreLocked } from '../keychain/prepare.ts';
import { formatLeft } from '../util/duration.ts';
import { parseCommand } from './args.ts';
import { profileArg } from './session.ts';

export async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('status', argv, { json: { type: 'boolean' }, short: { type: 'boolean' }, cache: { type: 'string' } });
  if (positionals.length > 1) throw usageError(`status takes one profile, got ${positionals.length}`, 'keyrole status [profile]');
  const profile = profileArg('status', positionals[0]);
  // Never a passphrase prompt (src/keychain/prepare.ts): in a shell prompt, `status --short` says locked.
  if (fileStoreLocked()) {
    if (v.short) return void process.stdout.write(`${profile} locked\n`);
    throw new KeyroleError('FileStoreLocked', 'keyrole\'s file store is locked in this session, and status never asks for its passphrase', 'unlock it with a keyrole command that reads it, at a terminal (keyrole list), or set KEYROLE_PASSPHRASE_FILE');
  }
  const files = await loadAwsFiles();
  const st = await profileStatus(files, resolveSettings(files, profile, { cache: v.cache }, localUser()));
  const now = Date.now();
  if (v.json) return void process.stdout.write(`${JSON.stringify(statusJson(st, now), null, 2)}\n`);
  if (v.short) return void process.stdout.write(`${shortStatus(st, now)}\n`);
  process.stdout.write(longStatus(st, now));
}

/** `52 min left (until …Z)`, `expired at …Z`, `not cached`. */
function timeLeft(d: Date | undefined, now: number): string {
  if (!d) return 'not cached';
  return d.getTime() > now ? `${formatLeft(d.getTime() - now)} left (until ${isoSeconds(d)})` : `expired at ${isoSeconds(d)}`;
}

/** `14:05:00Z`, or `in 9 min (14:05:00Z)`: a moment as a person reads it. */

/** What the next call does with a layer inside its refresh window. */
function renewal(l: LayerStatus, st: ProfileStatus): string {
  if (l.servedAsIs || !l.expiration) return '';
  // A renewal that takes a code needs the person (unless a hook gives it): say so, not "refreshed".
  if (asksForCode(l.layer) && !l.layer.settings.mfaProcess) return `, renewed with a new MFA code (keyrole login ${st.profile})`;
  return ', renewed on the next call';
}

/** `prod 52m`, `prod 52m mfa 9m`, `prod -` (nothing cached): for a prompt. */
export function shortStatus(st: ProfileStatus, now: number): string {
  const compact = (d: Date | undefined) => {
    if (!d) return '-';
    const ms = d.getTime() - now;
    if (ms <= 0) return 'expired';
    const m = Math.floor(ms / 60000);
    return m >= 60 ? `${Math.floor(m / 60)}h${m % 60 ? `${m % 60}m` : ''}` : m >= 1 ? `${m}m` : `${Math.floor(ms / 1000)}s`;
  };
  const parts = [st.profile, compact(st.layers[0].expiration)];
  const need = personNeeded(st, now);
  if (need) parts.push(need.what.includes('MFA') ? 'mfa' : need.what.includes('AWS Sign-In') ? 'login' : 'sso', compact(need.by));
  return parts.join(' ');
}

function longStatus(st: ProfileStatus, now: number): string {
  const lines: string[] = [];
  st.layers.forEach((l, i) => {
    lines.push(`${i === 0 ? `${st.profile}: ` : '  under it, '}${l.layer.label}: ${timeLeft(l.expiration, now)}${renewal(l, st)}`);
    if (i === 0 && l.layer.how) lines.push(`  how: ${l.layer.how}`);
  });
  if (st.sso) lines.push(`  ${describeToken(st.sso, now)}`);
  if (st.login) lines.push(`  ${describeLogin(st.login, now)}`);
  const need = personNeeded(st, now);
  if (need) lines.push(`  next needs you: ${needLine(need, now)}`);
  lines.push(`  (${st.store} store)`);
  return `${lines.join('\n')}\n`;
}

function statusJson(st: ProfileStatus, now: number): Record<string, unknown> {
  const secs = (d: Date | undefined) => (d ? Math.max(0, Math.floor((d.getTime() - now) / 1000)) : null);
  const need = personNeeded(st, now);
  return {
    Profile: st.profile,
    Store: st.store,
    How: st.layers[0].layer.how ?? null,
    Layers: st.layers.map((l) => ({ Kind: l.layer.kind, Label: l.layer.label, Cached: !!l.entry, Expiration: l.expiration ? isoSeconds(l.expiration) : null, ExpiresInSeconds: secs(l.expiration), ServedAsIs: l.servedAsIs })),
    Sso: st.sso ? { Session: st.sso.session, Expiration: st.sso.expiresAt ? isoSeconds(st.sso.expiresAt) : null, ExpiresInSeconds: secs(st.sso.expiresAt), Refreshable: st.sso.refreshable, From: st.sso.from } : null,
    Login: st.login ? { Session: st.login.session, InKeychain: st.login.held, Ends: st.login.endsAt ? isoSeconds(st.login.endsAt) : null, EndsInSeconds: secs(st.login.endsAt) } : null,
    PersonNeeded: need ? { What: need.what, Login: need.login, AskFrom: isoSeconds(need.askFrom), At: isoSeconds(need.by), InSeconds: secs(need.by) } : null,
  };
}

/**
 * `the MFA session of …: a new code by 15:04:00Z (in 29 min); keyrole asks for it from
 * 14:50:00Z where it can, and keyrole login prod gives it now`: the same moments the cache
 * and the endpoint's warning go by (src/credentials/windows.ts).
 */
export function needLine(need: PersonNeeded, now: number): string {
  const asks = need.askFrom.getTime() < need.by.getTime() && need.askFrom.getTime() > now ? `; keyrole asks from ${isoSeconds(need.askFrom)} where it can` : '';
  const by = need.by.getTime() > now ? `by ${isoSeconds(need.by)} (in ${formatLeft(need.by.getTime() - now)})` : `now (since ${isoSeconds(need.by)})`;
  return `${need.what}, ${by}${asks}; keyrole login ${need.login} renews it now`;
}
