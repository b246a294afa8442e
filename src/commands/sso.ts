// `keyrole sso populate <sso-session>`: one keyrole profile per account and role the user can
// reach, appended to the config (a dry run unless --write; comments and every other line
// kept byte for byte; a backup first). `keyrole sso logout <sso-session | profile>`: signs out.

import { readFileSync } from 'node:fs';
import { loadAwsFiles, profileNames, section, type AwsFiles } from '../config/files.ts';
import { KeyroleError, usageError } from '../util/errors.ts';
import { listAssignments, type SsoAssignment } from '../sso/client.ts';
import { sessionRefFromConfig, type SsoSessionRef } from '../sso/session.ts';
import { ssoAccessToken, ssoLogout } from '../sso/sso.ts';
import { deleteEntries, entriesUnder, layersOf } from '../credentials/plan.ts';
import { rewriteConfig } from '../config/configedit.ts';
import { shlexQuote } from '../config/shlex.ts';
import { parseCommand } from './args.ts';
import { parseIni } from '../config/ini.ts';
import { printable } from '../util/printable.ts';
import { loginTarget } from './login.ts';
import { selfCommand } from '../util/self.ts';

export async function main(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'populate') return populateMain(rest);
  if (sub === 'logout') return logoutMain(rest);
  throw usageError(sub === undefined ? 'sso needs a subcommand' : `unknown sso subcommand ${JSON.stringify(sub)}`, 'keyrole sso populate <sso-session> | keyrole sso logout <sso-session>');
}

async function logoutMain(argv: string[]): Promise<void> {
  const { positionals } = parseCommand('sso', argv, {});
  if (positionals.length !== 1) throw usageError('sso logout takes one sso-session or profile name', 'keyrole sso logout <sso-session>');
  const files = await loadAwsFiles();
  const target = loginTarget(files, positionals[0]);
  if (target.kind !== 'sso') throw new KeyroleError('NotSso', `profile ${positionals[0]} does not use IAM Identity Center`, 'give a profile with keyrole_sso_session or an [sso-session] name');
  const had = await ssoLogout(target.ref, target.name);
  const ended = await forgetRoleCredentials(files, target.ref);
  const roles = `${ended} cached role credential${ended === 1 ? '' : 's'} obtained with it ${ended === 1 ? 'is' : 'are'} removed`;
  process.stdout.write(had ? `Signed out of ${target.name}; keyrole's token is removed from the keychain and ${roles}.\n` : `keyrole holds no token for ${target.name}; ${roles}.\n`);
}

/**
 * Sign-out ends access: every cached credential that stands on this session's token (an
 * SSO role, and any role chained on top of one), found through the planner, in both
 * stores. A store that cannot be reached is named; the token is gone already.
 */
async function forgetRoleCredentials(files: AwsFiles, ref: SsoSessionRef): Promise<number> {
  const same = (sso: SsoSessionRef | undefined) => !!sso && sso.startUrl === ref.startUrl && sso.session === ref.session;
  const { removed, failed } = await deleteEntries(entriesUnder(files, (l) => layersOf(l).some((x) => same(x.sso))));
  for (const [kind, err] of failed) process.stderr.write(`keyrole: warning: could not remove the role credentials in the ${kind} cache (${printable(err.message)})\n`);
  return removed.length;
}

// ---- populate ----
//
// Everything the portal sends is outside text, and the config it goes into runs programs
// (credential_process): a portal that answered with a role name holding a newline and
// `[default]` once added a section that ran its own command. So account ids and role names
// are checked against AWS's own patterns before they are planned, account names reach the
// file only through the profile name's safe characters, and the rendered config is parsed
// back and must hold exactly the sections planned before anything is written.

export interface PlanItem {
  action: 'add' | 'keep' | 'skip' | 'refuse';
  profile: string;
  assignment: SsoAssignment;
  note?: string;
}

const ACCOUNT_ID = /^\d{12}$/;
// IAM's role name pattern (permission sets are provisioned as roles of that name).
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;

/** Why the portal's account/role cannot be written to a config, or undefined when it can. */
export function unsafeAssignment(a: SsoAssignment): string | undefined {
  if (!ACCOUNT_ID.test(a.accountId)) return 'the portal sent an account id that is not 12 digits';
  if (!ROLE_NAME.test(a.roleName)) return 'the portal sent a role name that is not an IAM role name';
  return undefined;
}

// A profile name from outside text: only [\w.@+-] (what the AWS tools accept in a
// [profile NAME] header, without '%', ':' and '/'), at most 64 characters.
const clean = (s: string) => s.replace(/[^\w.@+-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64).replace(/-+$/, '') || 'x';

/**
 * Decides a profile per account/role: kept when a profile already points at it, skipped when
 * its name is taken by something else, added otherwise. Names are `<prefix><account>.<role>`
 * (the account id joins the name when two accounts share one).
 */
export function planPopulate(files: AwsFiles, session: string, assignments: SsoAssignment[], o: { prefix?: string } = {}): PlanItem[] {
  const existing = new Map<string, string>();
  for (const name of profileNames(files.config)) {
    const sec = files.config[name];
    // A profile that assumes another role on top of the SSO role is not that role's profile.
    if (sec.keyrole_role_arn || sec.keyrole_source_profile) continue;
    const key = `${sec.keyrole_sso_account_id}/${sec.keyrole_sso_role_name}`;
    if (sec.keyrole_sso_session === session && sec.keyrole_sso_account_id && sec.keyrole_sso_role_name && !existing.has(key)) existing.set(key, name);
  }
  const namesPerAccountName = new Map<string, Set<string>>();
  for (const a of assignments) {
    const ids = namesPerAccountName.get(a.accountName) ?? new Set();
    ids.add(a.accountId);
    namesPerAccountName.set(a.accountName, ids);
  }
  const sorted = [...assignments].sort((x, y) => x.accountName.localeCompare(y.accountName) || x.accountId.localeCompare(y.accountId) || x.roleName.localeCompare(y.roleName));
  const planned = new Set<string>();
  return sorted.map((a): PlanItem => {
    const unsafe = unsafeAssignment(a);
    if (unsafe) return { action: 'refuse', profile: '-', assignment: a, note: `${unsafe}; not written` };
    const have = existing.get(`${a.accountId}/${a.roleName}`);
    if (have !== undefined) return { action: 'keep', profile: have, assignment: a, note: 'already in the config' };
    const account = namesPerAccountName.get(a.accountName)!.size > 1 ? `${a.accountName}-${a.accountId}` : a.accountName;
    const profile = `${o.prefix ?? ''}${clean(account)}.${clean(a.roleName)}`;
    // `sso-session.x` as a profile name would pass for that sso-session in keyrole's view of the config.
    if (/^(profile|sso-session|services)\./.test(profile)) {
      return { action: 'skip', profile, assignment: a, note: 'that name would read as another kind of section (use --prefix)' };
    }
    if (section(files.config, profile) || planned.has(profile) || profile === 'default') {
      return { action: 'skip', profile, assignment: a, note: 'a different profile already has this name (use --prefix)' };
    }
    planned.add(profile);
    return { action: 'add', profile, assignment: a };
  });
}

interface RenderOptions { session: string; region: string; command: string; date?: Date }

/** The settings of an added profile, in the order they are written. */
function profileSettings(i: PlanItem, o: RenderOptions): [string, string][] {
  return [
    ['credential_process', `${o.command} process ${shlexQuote(i.profile)}`],
    ['keyrole_sso_session', o.session],
    ['keyrole_sso_account_id', i.assignment.accountId],
    ['keyrole_sso_role_name', i.assignment.roleName],
    ['region', o.region],
  ];
}

export function renderProfiles(items: PlanItem[], o: RenderOptions): string {
  const add = items.filter((i) => i.action === 'add');
  if (!add.length) return '';
  const when = (o.date ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const blocks = add.map((i) => [`[profile ${i.profile}]`, ...profileSettings(i, o).map(([k, v]) => `${k} = ${v}`)].join('\n'));
  return `# Added by keyrole sso populate ${o.session} on ${when}: ${add.length} profile(s)\n${blocks.join('\n\n')}\n`;
}

/**
 * The new config text, read back as the AWS tools read it, must hold the old sections as
 * they were plus exactly the planned profiles with exactly their settings; anything else
 * (a section or a key smuggled in by a value) stops the write.
 */
export function checkRendered(before: string, after: string, items: PlanItem[], o: RenderOptions): void {
  // Sections as parsed (`profile.x`, `sso-session.x`, `default`), before the config view
  // folds profiles into bare names, so a profile cannot pass for another kind of section.
  const expected = parseIni(before);
  for (const i of items) if (i.action === 'add') expected[`profile.${i.profile}`] = Object.fromEntries(profileSettings(i, o));
  const got = parseIni(after);
  const same = (a: Record<string, unknown>, b: Record<string, unknown>) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
  const sections = new Set([...Object.keys(expected), ...Object.keys(got)]);
  const wrong = [...sections].filter((k) => !Object.hasOwn(expected, k) || !Object.hasOwn(got, k) || !same(expected[k], got[k]));
  if (wrong.length) {
    throw new KeyroleError('PopulateCheckFailed', `the profiles to add do not read back as planned (sections ${wrong.map((k) => JSON.stringify(printable(k).slice(0, 60))).join(', ')} differ); nothing was written`, 'check --command and --prefix; if they are plain, report it: the portal may have sent something keyrole does not expect');
  }
}

/** The config text with `addition` appended after one blank line; every existing byte kept. */
export function appendText(text: string, addition: string): string {
  if (!addition) return text;
  if (text === '') return addition;
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const add = eol === '\n' ? addition : addition.replace(/\n/g, '\r\n');
  const sep = text.endsWith(eol + eol) ? '' : text.endsWith(eol) ? eol : eol + eol;
  return text + sep + add;
}

async function populateMain(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseCommand('sso', argv, {
    write: { type: 'boolean' },
    region: { type: 'string' },
    prefix: { type: 'string' },
    command: { type: 'string' },
  });
  if (positionals.length !== 1) throw usageError('sso populate takes one sso-session name', 'keyrole sso populate <sso-session> [--write]');
  const session = positionals[0];
  const files = await loadAwsFiles();
  const ref = sessionRefFromConfig(files, session);
  if (!ref) throw new KeyroleError('UnknownSsoSession', `there is no [sso-session ${session}] in ${files.configPath}`, `add one with sso_start_url and sso_region (and sso_registration_scopes = sso:account:access)`);
  if (v.prefix !== undefined && !/^[\w.@+-]*$/.test(v.prefix)) throw usageError(`--prefix ${JSON.stringify(printable(v.prefix))} has characters a profile name should not have`, 'use letters, digits and ._@+-');
  const region = v.region ?? ref.ssoRegion;
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) throw usageError(`--region ${JSON.stringify(region)} is not an AWS region`, 'for example --region eu-west-1');

  const token = await ssoAccessToken(ref, { interactive: true, loginName: session });
  const assignments = await listAssignments(ref, token.accessToken, session);
  const plan = planPopulate(files, session, assignments, { prefix: v.prefix });
  const render: RenderOptions = { session, region, command: v.command ?? selfCommand() };
  const addition = renderProfiles(plan, render);
  const accounts = new Set(assignments.map((a) => a.accountId)).size;

  const out: string[] = [`sso-session ${session}: ${assignments.length} role(s) in ${accounts} account(s)`];
  for (const i of plan) {
    const a = i.assignment;
    // Names from the portal, shown for the person to recognise: printable and not endless.
    const shown = (t: string) => printable(t).slice(0, 80);
    out.push(`  ${i.action.padEnd(6)}  [profile ${i.profile}]  ${shown(a.accountId)} (${shown(a.accountName)}) ${shown(a.roleName)}${i.note ? `: ${i.note}` : ''}`);
  }
  const adds = plan.filter((i) => i.action === 'add').length;
  let current = '';
  try {
    current = readFileSync(files.configPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new KeyroleError('ConfigUnreadable', `cannot read ${files.configPath} (${(err as NodeJS.ErrnoException).code})`, 'fix its permissions');
  }
  const next = appendText(current, addition);
  checkRendered(current, next, plan, render);
  if (!adds) {
    out.push(`Nothing to add to ${files.configPath}.`);
  } else if (!v.write) {
    out.push('', `Dry run: nothing was written. These lines would be appended to ${files.configPath}:`, '', addition.trimEnd(), '', 'Run again with --write to add them (a backup is made first).');
  } else {
    const backup = rewriteConfig(files.configPath, next);
    out.push(`Added ${adds} profile(s) to ${files.configPath}${backup ? ` (backup: ${backup})` : ''}.`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}
