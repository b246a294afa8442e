// `keyrole login <profile>` for AWS Sign-In: signs in (src/login/session.ts), keeps the
// session in the keychain and the 15-minute credentials in the profile's cache, so the
// next call is a hit. For a profile that does not exist yet it writes the profile (region,
// keyrole_login_session = the ID token's `sub`, credential_process with keyrole's absolute
// path) with the config editor: comments and other sections stay as they were.

import { configPath, credentialsPath, section, type AwsFiles } from '../config/files.ts';
import { configSections, parseIni, readIniFile, readIniText } from '../config/ini.ts';
import { rewriteConfig, setProfileValues } from '../config/configedit.ts';
import { shlexQuote } from '../config/shlex.ts';
import { checkRegion } from '../config/region.ts';
import { resolveSettings, type Settings } from '../config/settings.ts';
import { signinEndpoint } from '../login/endpoint.ts';
import { caBundleSetting } from '../config/cabundle.ts';
import { chooseLoginFlow, credentialsOf, keepSession, signIn, type SignedIn, type Target } from '../login/session.ts';
import { sessionEnd } from '../login/record.ts';
import { localUser } from '../credentials/user.ts';
import { storeKind } from '../config/cachestore.ts';
import { planProfile, layersOf } from '../credentials/plan.ts';
import { encodeEntry, openStore, paramsDigest } from '../credentials/cache.ts';
import { storeEntry } from '../credentials/cached.ts';
import { stderrScreen, terminalScreen, type Screen } from '../sso/screen.ts';
import { KeyroleError } from '../util/errors.ts';
import { printable } from '../util/printable.ts';
import { selfCommand } from '../util/self.ts';

const PROFILE_NAME = /^[\w\-@+.%:/]{1,128}$/;

export interface SigninFlags { remote?: boolean; noBrowser?: boolean; region?: string }

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Signs in at the terminal (else with messages on stderr; --remote needs the terminal). */
async function withScreen<T>(fn: (screen: Screen, ask: ((q: string) => Promise<string>) | undefined) => Promise<T>): Promise<T> {
  const { openTerminal, ask } = await import('../util/prompt.ts');
  const term = openTerminal();
  try {
    return await fn(term ? terminalScreen(term) : stderrScreen(), term ? (q) => ask(term, q) : undefined);
  } finally {
    term?.close();
  }
}

async function run(t: Target, profile: string, flags: SigninFlags): Promise<SignedIn> {
  return withScreen(async (screen, ask) => {
    const flow = chooseLoginFlow({ remote: flags.remote, noBrowser: flags.noBrowser });
    if (flow.note) screen.write(`${flow.note}\n`);
    return signIn(t, { profile, screen, remote: flow.remote, open: flow.open, ask });
  });
}

/** The credentials the sign-in just gave, into the cache entry the profile's login layer reads. */
async function cacheCredentials(files: AwsFiles, s: Settings, got: SignedIn): Promise<void> {
  const layer = layersOf(planProfile(files, s)).find((l) => l.kind === 'login');
  if (!layer) return;
  const store = openStore(storeKind(s.cache));
  const entry = { profile: s.profile, source: s.source, credentials: credentialsOf(got.answer, got.record.accountId), clockOffsetMs: 0, params: paramsDigest(layer.canonical), storedAt: new Date() };
  await storeEntry(store, layer.key, encodeEntry(entry), layer.label);
}

function signedInLine(got: SignedIn, profile: string): string {
  const end = sessionEnd(got.record);
  return `keyrole: signed in as ${printable(got.record.session)}; the session is in the keychain${end ? ` until ${iso(end)} at the latest` : ''}, and profile ${profile} uses it.\n`;
}

/** A profile with keyrole_login_session (or a role on top of one: `profile` is the base). */
export async function signinProfile(files: AwsFiles, profile: string, flags: SigninFlags): Promise<void> {
  const s = resolveSettings(files, profile, {}, localUser());
  const ref = s.login!;
  const got = await run({ region: ref.region, endpoint: ref.endpoint, caBundle: s.caBundle }, profile, flags);
  keepSession(got.record, ref.session, profile);
  await cacheCredentials(files, s, got);
  process.stderr.write(signedInLine(got, profile));
}

/** A profile that does not exist yet: sign in, then write it. */
export async function signinNewProfile(files: AwsFiles, profile: string, flags: SigninFlags): Promise<void> {
  if (!PROFILE_NAME.test(profile)) throw new KeyroleError('UnknownProfile', `"${printable(profile).slice(0, 80)}" is neither a profile nor an sso-session, nor a name a new profile can have`, 'use letters, digits and -_@+.%:/');
  const region = checkRegion(flags.region ?? process.env.AWS_REGION ?? (await askRegion(profile)), flags.region ? '--region' : process.env.AWS_REGION ? 'AWS_REGION' : 'the answer');
  const { endpoint } = signinEndpoint(files, {}, region);
  process.stderr.write(`keyrole: profile ${profile} is not in ${files.configPath}; signing in with AWS Sign-In (region ${region}) and writing it.\n`);
  const got = await run({ region, endpoint, caBundle: caBundleSetting(undefined) }, profile, flags);
  keepSession(got.record, undefined, profile);
  const path = configPath();
  const text = readIniText(path, 'config') ?? '';
  const edit = setProfileValues(text, profile, [
    ['credential_process', `${selfCommand()} process ${shlexQuote(profile)}`],
    ['keyrole_login_session', got.record.session],
    ['region', region],
  ]);
  const backup = rewriteConfig(path, edit.text);
  const written: AwsFiles = { configPath: path, credentialsPath: credentialsPath(), config: configSections(parseIni(edit.text)), credentials: readIniFile(credentialsPath(), 'credentials') };
  if (section(written.config, profile)) await cacheCredentials(written, resolveSettings(written, profile, {}, localUser()), got);
  process.stderr.write(`keyrole: wrote profile ${profile} to ${path}${backup ? ` (backup: ${backup})` : ''}.\n`);
  process.stderr.write(signedInLine(got, profile));
}

async function askRegion(profile: string): Promise<string> {
  const { openTerminal, ask } = await import('../util/prompt.ts');
  const term = openTerminal();
  if (!term) throw new KeyroleError('NoTerminal', `there is no terminal to ask for the region of the new profile ${profile}`, `pass --region, e.g. keyrole login ${profile} --region eu-west-1`);
  try {
    return await ask(term, `Region for profile ${profile} (e.g. eu-west-1): `);
  } finally {
    term.close();
  }
}
