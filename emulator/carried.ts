// What each AssumeRole call carried, as the emulator read it off the wire, for tests to read
// back through /_emulator/stats. The test's only view of what keyrole (or the AWS CLI on
// keyrole's behalf) actually sent: without it a parameter could be dropped from the call and
// every test that only looks at the answer would still pass. The MFA code itself is not kept,
// only whether one came (it is a secret for its 30 s).

import { memberList, tagList } from './sts.ts';
import type { SessionTag } from './state.ts';

export interface AssumeRoleCarried {
  roleArn?: string;
  roleSessionName?: string;
  /** As sent, unparsed: a malformed value is what a test wants to see. */
  durationSeconds?: string;
  externalId?: string;
  serialNumber?: string;
  tokenCode: boolean;
  policy?: string;
  policyArns: string[];
  tags: SessionTag[];
  transitiveTagKeys: string[];
  sourceIdentity?: string;
}

/** The parameters of an AssumeRole request; undefined for any other action. */
export function carried(action: string, params: URLSearchParams): AssumeRoleCarried | undefined {
  if (action !== 'AssumeRole') return undefined;
  const get = (name: string): string | undefined => params.get(name) ?? undefined;
  // An absent parameter stays undefined, which the stats JSON leaves out: "not sent" is not "sent empty".
  return {
    roleArn: get('RoleArn'),
    roleSessionName: get('RoleSessionName'),
    durationSeconds: get('DurationSeconds'),
    externalId: get('ExternalId'),
    serialNumber: get('SerialNumber'),
    tokenCode: params.get('TokenCode') !== null,
    policy: get('Policy'),
    policyArns: memberList(params, 'PolicyArns', '.arn'),
    tags: tagList(params),
    transitiveTagKeys: memberList(params, 'TransitiveTagKeys'),
    sourceIdentity: get('SourceIdentity'),
  };
}
