// doctor's profile checks: the profile is there, keyrole can read it, and nothing in it
// takes precedence over credential_process.

import { existsSync } from 'node:fs';
import { describeSettings, type Settings } from '../../config/settings.ts';
import { shadowingKeys } from '../../config/checks.ts';
import { keyroleProfileNames, planProfile, type Layer } from '../../credentials/plan.ts';
import { fromError, ok, problem, warning, type Check, type DoctorContext } from './check.ts';

export function configChecks(ctx: DoctorContext, settingsError: unknown): Check[] {
  const files = ctx.files!;
  if (!ctx.profile) {
    const mine = keyroleProfileNames(files);
    return [warning('profile', `no profile given${mine.length ? `; keyrole profiles in ${files.configPath}: ${mine.join(', ')}` : ` and ${files.configPath} has no keyrole profile`}`, mine.length ? `run keyrole doctor <profile>` : 'create one with keyrole configure <profile>')];
  }
  if (!ctx.section) {
    const where = existsSync(files.configPath) ? files.configPath : `${files.configPath} (the file does not exist)`;
    return [problem('profile', `profile "${ctx.profile}" is not in ${where}`, `create it with keyrole configure ${ctx.profile}, or check AWS_CONFIG_FILE`)];
  }
  const out: Check[] = [];
  let failure = settingsError;
  let plan: Layer | undefined;
  try {
    if (!failure) plan = planProfile(files, ctx.settings!);
  } catch (err) {
    failure = err; // the planner's refusals: a cycle, a chained role over an hour
  }
  if (failure) out.push(fromError('profile', failure));
  else out.push(ok('profile', `${ctx.profile} in ${files.configPath}: ${describeProfile(ctx.settings!, plan!)}`));

  const shadow = shadowingKeys(files, ctx.profile);
  if (shadow.length) {
    const header = ctx.profile === 'default' ? '[default]' : `[profile ${ctx.profile}]`;
    out.push(problem('profile keys', `${header} also sets ${shadow.join(', ')}: the AWS CLI and SDKs use ${shadow.length === 1 ? 'it' : 'them'} before credential_process, so keyrole is never run for this profile`,
      `remove ${shadow.length === 1 ? 'that line' : 'those lines'} (keyrole_role_arn, keyrole_source_profile and keyrole_sso_* replace role_arn, source_profile and sso_*) from ${files.configPath}${shadow.some((k) => k.includes('credentials file')) ? ` and ${files.credentialsPath}` : ''}`));
  } else {
    out.push(ok('profile keys', 'nothing in the profile takes precedence over credential_process'));
  }
  return out;
}

function describeProfile(s: Settings, plan: Layer): string {
  const from = s.regionFrom === 'default' ? 'keyrole\'s default: no region is set' : `from ${s.regionFrom}`;
  return `${describeSettings(s)}, region ${s.region} (${from})${plan.how ? `; ${plan.how}` : ''}`;
}
