// doctor's environment check: credentials and profile names in the environment.

import { KeyroleError } from '../../util/errors.ts';
import { section } from '../../config/files.ts';
import { getCallerIdentity } from '../../aws/sts.ts';
import { isoSeconds } from '../../credentials/blob.ts';
import { formatLeft } from '../../util/duration.ts';
import { doctorStsTarget } from './clock.ts';
import { EXEC_MARKER } from '../exec.ts';
import { ok, problem, warning, type Check, type DoctorContext } from './check.ts';
import { homeMismatch } from '../../util/platform.ts';

const CREDENTIAL_VARS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN'];

function unsetCommand(vars: string[]): string {
  return process.platform === 'win32' ? vars.map((v) => `Remove-Item Env:${v}`).join('; ') : `unset ${vars.join(' ')}`;
}

export async function environmentChecks(ctx: DoctorContext): Promise<Check[]> {
  const env = process.env;
  const out: Check[] = [];
  const home = homeMismatch(env, process.platform);
  if (home) out.push(warning('environment', home, 'keep your AWS config in %USERPROFILE%\\.aws, or unset HOME for the tools that read it'));
  const set = CREDENTIAL_VARS.filter((v) => env[v]);
  const inExec = env[EXEC_MARKER];
  if (set.length) {
    const exp = env.AWS_CREDENTIAL_EXPIRATION ? Date.parse(env.AWS_CREDENTIAL_EXPIRATION) : NaN;
    // Past their AWS_CREDENTIAL_EXPIRATION by this machine's clock; or refused by STS as
    // expired, which is said as STS said it (not "expired" at a time still to come).
    const pastExpiration = !isNaN(exp) && exp <= ctx.now();
    let stsExpired = false;
    let live = '';
    if (ctx.network && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
      try {
        const id = await getCallerIdentity({ accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN || env.AWS_SECURITY_TOKEN }, doctorStsTarget(ctx));
        live = `; they are ${id.arn}`;
      } catch (err) {
        const code = err instanceof KeyroleError ? err.code : '';
        if (code === 'ExpiredToken') stsExpired = true;
        else if (code === 'InvalidClientTokenId' || code === 'SignatureDoesNotMatch') live = `; STS does not accept them (${code})`;
      }
    }
    const expired = pastExpiration || stsExpired;
    const when = pastExpiration ? `, expired ${isoSeconds(new Date(exp))}`
      : stsExpired ? `; STS refuses them as expired (ExpiredToken)${!isNaN(exp) ? `, although AWS_CREDENTIAL_EXPIRATION says ${isoSeconds(new Date(exp))}` : ''}` : '';
    const what = `${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set`;
    // Who uses them, precisely: botocore (the AWS CLI, boto3) prefers them to every profile
    // but one named explicitly (--profile, Session(profile_name=)), AWS_PROFILE included;
    // the JS SDK skips them when AWS_PROFILE or a profile is given.
    const who = `the AWS CLI and boto3 use them for every command without an explicit --profile (AWS_PROFILE does not override them), the JS SDK unless AWS_PROFILE or a profile is given`;
    if (inExec) {
      out.push(expired
        ? problem('environment', `inside keyrole exec for profile ${inExec}, and its environment variables hold expired credentials${when}`, 'leave this shell (exit) and run keyrole exec again')
        : warning('environment', `inside keyrole exec for profile ${inExec}: ${what} and every AWS command here uses them${!isNaN(exp) ? `, until ${isoSeconds(new Date(exp))} (in ${formatLeft(exp - ctx.now())})` : ''}`, 'exit this shell to use profiles again'));
    } else if (expired) {
      out.push(problem('environment', `environment variables hold expired credentials (${what}${when}): ${who}, so those commands fail with ExpiredToken${ctx.profile ? ` and profile ${ctx.profile}'s credential_process is not run` : ''}`, unsetCommand(set)));
    } else {
      out.push(problem('environment', `${what}: ${who}${ctx.profile ? `, so profile ${ctx.profile}'s credential_process is not run for those` : ''}${env.AWS_SESSION_TOKEN ? '; these temporary credentials fail with ExpiredToken once they expire' : ''}${live}`, unsetCommand(set)));
    }
  } else {
    out.push(ok('environment', 'no AWS credentials in the environment'));
  }

  for (const v of ['AWS_PROFILE', 'AWS_DEFAULT_PROFILE']) {
    const p = env[v];
    if (!p) continue;
    if (ctx.files && !section(ctx.files.config, p)) {
      out.push(problem('environment', `${v}=${p} names a profile that is not in ${ctx.files.configPath}: every AWS command without --profile fails (ProfileNotFound)`, `${unsetCommand([v])}, or add [profile ${p}]`));
    } else if (ctx.profile && p !== ctx.profile) {
      out.push(warning('environment', `${v}=${p}: AWS commands without --profile use profile ${p}, not ${ctx.profile}`, `pass --profile ${ctx.profile}, or export ${v}=${ctx.profile}`));
    }
  }
  return out;
}
