// Which clients read which of the container-credentials variables: what `serve` prints and
// `doctor` advises are both made from this list. AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE came
// with EKS Pod Identity (November 2023); the first versions that read it, from AWS's table
// of SDKs that support EKS Pod Identity (Amazon EKS User Guide, "Use pod identity with the AWS
// SDK", pod-id-minimum-sdk). Older versions read only
// AWS_CONTAINER_AUTHORIZATION_TOKEN, and without it send no Authorization header (keyrole
// answers 403). Checked here: Debian 12's boto3 1.29 / AWS CLI 2.9 and Go SDK v2 read only
// the variable; boto3 1.43 and the JS SDK v3 of this repository read the file.

export interface ClientSince {
  client: string;
  since: string;
}

/** The first version of each client that reads AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE. */
export const TOKEN_FILE_SINCE: readonly ClientSince[] = [
  { client: 'boto3/botocore', since: '1.34.41' },
  { client: 'AWS CLI v1', since: '1.30.0' },
  { client: 'AWS CLI v2', since: '2.15.0' },
  { client: 'JS SDK v3', since: '3.458.0' },
  { client: 'Go SDK v2', since: 'its 2023-11-14 release' },
  { client: 'aws-sdk-go v1 (rclone)', since: '1.47.11' },
  { client: 'Ruby aws-sdk-core', since: '3.188.0' },
];

/** One line naming the clients that need the token itself. */
export function tokenOnlyClients(): string {
  return TOKEN_FILE_SINCE.map((c) => `${c.client} before ${c.since}`).join(', ');
}
