// doctor's runner: the checks in an order where none disturbs a later one (the cache is
// inspected before the credential_process line is run, which fills it; the identity check
// uses the credentials that run printed).

import { loadAwsFiles, section, type AwsFiles } from '../../config/files.ts';
import { resolveSettings } from '../../config/settings.ts';
import { localUser } from '../../credentials/user.ts';
import { debug } from '../../util/debug.ts';
import { fromError, type Check, type DoctorContext } from './check.ts';
import { clockCheck } from './clock.ts';
import { environmentChecks } from './environment.ts';
import { configChecks } from './profile.ts';
import { keyroleProfileNames } from '../../credentials/plan.ts';
import { processLineCheck, runProcessLine } from './processline.ts';
import { keychainCheck } from './keychain.ts';
import { kernelCheck } from './kernel.ts';
import { sourceCheck } from './source.ts';
import { cacheCheck } from './cache.ts';
import { ssoCheck } from './sso.ts';
import { loginCheck } from './login.ts';
import { cliCacheCheck } from './clicache.ts';
import { identityCheck } from './identity.ts';
import { plaintextCheck } from './plaintext.ts';
import { syntaxCheck } from './syntax.ts';
import { endpointCheck } from './endpoint.ts';

export async function runChecks(profileArg: string | undefined, network: boolean): Promise<{ ctx: DoctorContext; checks: Check[] }> {
  const checks: Check[] = [];
  let files: AwsFiles | undefined;
  try {
    files = await loadAwsFiles();
  } catch (err) {
    checks.push(fromError('config', err));
  }
  const profile = files ? pickProfile(files, profileArg) : profileArg;
  const ctx: DoctorContext = { files, profile, section: profile && files ? section(files.config, profile) : undefined, settings: undefined, network, now: Date.now };
  let settingsError: unknown;
  if (files && ctx.section && profile) {
    try {
      ctx.settings = resolveSettings(files, profile, {}, localUser());
    } catch (err) {
      settingsError = err;
    }
  }
  debug(`doctor: profile ${profile ?? '(none)'}`);
  checks.push(await clockCheck(ctx));
  checks.push(...await environmentChecks(ctx));
  const endpoint = await endpointCheck(network);
  if (endpoint) checks.push(endpoint);
  if (files) checks.push(...configChecks(ctx, settingsError));
  if (files) checks.push(syntaxCheck(files), plaintextCheck(files));
  const { checks: lineChecks, line } = processLineCheck(ctx);
  checks.push(await keychainCheck());
  checks.push(kernelCheck());
  checks.push(sourceCheck(ctx));
  checks.push(await cacheCheck(ctx));
  const sso = await ssoCheck(ctx);
  if (sso) checks.push(sso);
  const login = await loginCheck(ctx);
  if (login) checks.push(login);
  checks.push(cliCacheCheck(ctx));
  checks.push(...lineChecks);
  if (line && network && ctx.settings) checks.push(await runProcessLine(ctx, line));
  checks.push(await identityCheck(ctx));
  return { ctx, checks };
}

/** The argument, else AWS_PROFILE, else the only keyrole profile. */
export function pickProfile(files: AwsFiles, arg: string | undefined): string | undefined {
  if (arg) return arg;
  if (process.env.AWS_PROFILE) return process.env.AWS_PROFILE;
  const mine = keyroleProfileNames(files);
  return mine.length === 1 ? mine[0] : undefined;
}
