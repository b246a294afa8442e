// doctor's identity check: STS says who the profile's credentials are.

import { resolveCredentials } from '../../credentials/resolve.ts';
import { localExpiration } from '../../credentials/cache.ts';
import { stsTarget } from '../../credentials/target.ts';
import { getCallerIdentity, type AwsKeys } from '../../aws/sts.ts';
import { formatLeft } from '../../util/duration.ts';
import { fromError, ok, skipped, warning, type Check, type DoctorContext } from './check.ts';

export async function identityCheck(ctx: DoctorContext): Promise<Check> {
  const name = 'identity';
  if (!ctx.network) return skipped(name, 'not checked (--no-network)');
  const s = ctx.settings;
  if (!s || !ctx.files) return skipped(name, 'no usable profile');
  let keys: AwsKeys;
  let expiration: Date;
  let offset = 0;
  if (ctx.processCredentials) {
    ({ keys, expiration } = ctx.processCredentials);
  } else {
    try {
      const { entry } = await resolveCredentials(ctx.files, s);
      keys = entry.credentials;
      expiration = localExpiration(entry);
      offset = entry.clockOffsetMs;
    } catch (err) {
      return fromError(name, err);
    }
  }
  try {
    const id = await getCallerIdentity({ accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey, sessionToken: keys.sessionToken }, stsTarget(s, offset));
    const left = expiration.getTime() - ctx.now();
    const expires = isNaN(left) ? '' : `, expire in ${formatLeft(left)}`;
    const roleName = s.roleArn?.split('/').pop();
    if (roleName && !id.arn.includes(`:assumed-role/${roleName}/`)) {
      return warning(name, `the credentials are ${id.arn}, not role ${s.roleArn}`, 'check which profile credential_process names');
    }
    return ok(name, `${id.arn} (account ${id.account})${expires}`);
  } catch (err) {
    return fromError(name, err);
  }
}
