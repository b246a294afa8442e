// `keyrole login <profile | sso-session>`: signs in ahead of time, so that credential_process
// calls without a terminal (IDEs, the JS SDK, CI, the endpoint of exec --server) find a
// token. For an MFA profile it asks for a code and renews the MFA session (or the role that
// takes the code) whatever it has left. For IAM Identity Center it
// signs in in the browser with PKCE where one can be opened, else (or with
// --use-device-code) with the OIDC device flow; the messages go to the terminal (else
// stderr), never to stdout. For AWS Sign-In (a keyrole_login_session profile, or a profile
// that does not exist yet, which it then writes) it signs in as `aws login` does
// (src/login/session.ts) and keeps the session in the keychain (signin.ts here).

import { loadAwsFiles, section, type AwsFiles } from '../config/files.ts';
import { resolveSettings } from '../config/settings.ts';
import { KeyroleError, usageError } from '../util/errors.ts';
import { localUser } from '../credentials/user.ts';
import { describeSession, loginName, sessionRefFromConfig, type SsoSessionRef } from '../sso/session.ts';
import { ssoLogin } from '../sso/sso.ts';
import { stderrScreen, terminalScreen, type Screen } from '../sso/screen.ts';
import { chooseFlow, type FlowFlags } from '../sso/flow.ts';
import { printable } from '../util/printable.ts';
import { parseCommand } from './args.ts';

export async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('login', argv, { 'use-device-code': { type: 'boolean' }, 'no-browser': { type: 'boolean' }, remote: { type: 'boolean' }, region: { type: 'string' } });
  if (positionals.length !== 1) throw usageError(`login takes one profile or sso-session name, got ${positionals.length}`, 'keyrole login <profile | sso-session>');
  const files = await loadAwsFiles();
  const name = positionals[0]!;
  let target: LoginTarget;
  try {
    target = loginTarget(files, name);
  } catch (err) {
    // A profile that does not exist yet: an AWS Sign-In, which writes it.
    if (!(err instanceof KeyroleError) || err.code !== 'UnknownProfile' || v['use-device-code']) throw err;
    const { signinNewProfile } = await import('./signin.ts');
    return signinNewProfile(files, name, { remote: v.remote, noBrowser: v['no-browser'], region: v.region });
  }
  if (target.kind === 'signin') {
    if (v['use-device-code']) throw usageError(`--use-device-code is for IAM Identity Center; profile ${target.profile} uses AWS Sign-In (--remote signs in with a browser on another device)`, `keyrole login ${target.profile} --remote`);
    const { signinProfile } = await import('./signin.ts');
    return signinProfile(files, target.profile, { remote: v.remote, noBrowser: v['no-browser'] });
  }
  if (v.remote || v.region !== undefined) throw usageError(`--remote and --region are for AWS Sign-In; ${target.kind === 'sso' ? `${target.name} uses IAM Identity Center (--use-device-code signs in on another device)` : `profile ${target.profile} signs in with an MFA code`}`, `keyrole login ${target.kind === 'sso' ? target.name : target.profile}`);
  if (target.kind === 'sso') return loginSso(target.ref, target.name, { useDeviceCode: v['use-device-code'], noBrowser: v['no-browser'] });
  if (v['use-device-code'] || v['no-browser']) throw usageError(`--use-device-code and --no-browser are for IAM Identity Center; profile ${target.profile} signs in with an MFA code`, `keyrole login ${target.profile}`);
  return loginMfa(files, target.profile);
}

export type LoginTarget = { kind: 'sso'; ref: SsoSessionRef; name: string } | { kind: 'mfa'; profile: string; serial: string } | { kind: 'signin'; profile: string };

/**
 * What `keyrole login NAME` signs in to: a profile that uses IAM Identity Center (directly,
 * or at the root of a keyrole_source_profile chain), else an [sso-session NAME].
 */
export function loginTarget(files: AwsFiles, name: string): LoginTarget {
  if (section(files.config, name)) {
    const seen: string[] = [];
    let current: string | undefined = name;
    while (current !== undefined && !seen.includes(current) && seen.length < 16) {
      seen.push(current);
      let settings;
      try {
        settings = resolveSettings(files, current, {}, localUser());
      } catch (err) {
        if (err instanceof KeyroleError && err.code === 'NoSource') break;
        throw err;
      }
      if (settings.sso) return { kind: 'sso', ref: settings.sso, name: loginName(settings.sso, current) };
      if (settings.login) return { kind: 'signin', profile: current };
      if (settings.mfaSerial) return { kind: 'mfa', profile: name, serial: settings.mfaSerial };
      current = settings.sourceKind === 'profile' ? settings.sourceProfile : undefined;
    }
    const session = sessionRefFromConfig(files, name);
    if (session) return { kind: 'sso', ref: session, name };
    throw new KeyroleError('NothingToLogIn', `profile ${name} uses neither IAM Identity Center, AWS Sign-In nor MFA, so there is nothing to sign in to`,
      'keyrole login takes a profile with keyrole_sso_session, keyrole_login_session or keyrole_mfa_serial, an [sso-session] name, or a new profile name');
  }
  const session = sessionRefFromConfig(files, name);
  if (session) return { kind: 'sso', ref: session, name };
  throw new KeyroleError('UnknownProfile', `"${name}" is neither a profile nor an sso-session in ${files.configPath}`, 'check the name, or AWS_CONFIG_FILE');
}

async function loginSso(ref: SsoSessionRef, name: string, flags: FlowFlags): Promise<void> {
  const { openTerminal } = await import('../util/prompt.ts');
  const term = openTerminal();
  const screen: Screen = term ? terminalScreen(term) : stderrScreen();
  try {
    const { record, joined } = await ssoLogin(ref, { name, screen, flow: chooseFlow(flags) });
    if (joined) screen.write(`Another keyrole signed in to ${printable(describeSession(ref))}; the token is valid until ${record.expiresAt?.toISOString().replace(/\.\d{3}Z$/, 'Z')}.\n`);
  } finally {
    term?.close();
  }
}

/**
 * An MFA profile: asks for the code at this terminal and renews the MFA session (and the
 * profile's role) whatever they have left, so later calls without a terminal (the endpoint
 * of `exec --server`, IDEs) find them: the warning before a session ends sends people here.
 */
async function loginMfa(files: AwsFiles, profile: string): Promise<void> {
  const { resolveCredentials } = await import('../credentials/resolve.ts');
  const { localExpiration } = await import('../credentials/cache.ts');
  const { profileStatus } = await import('../credentials/status.ts');
  const { asksForCode } = await import('../credentials/plan.ts');
  const s = resolveSettings(files, profile, {}, localUser());
  const { entry } = await resolveCredentials(files, s, { renew: true });
  const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const renewed = (await profileStatus(files, s)).layers.find((l) => asksForCode(l.layer) && l.expiration);
  const what = renewed && renewed.layer.kind === 'mfa-session' ? `${renewed.layer.label} lasts until ${iso(renewed.expiration!)}, for every role of that source; ` : '';
  process.stderr.write(`keyrole: renewed with the MFA code: ${what}profile ${profile} has credentials until ${iso(localExpiration(entry))}\n`);
}
