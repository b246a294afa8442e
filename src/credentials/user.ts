// The local login name, which goes into the default role session name.

import { userInfo } from 'node:os';

/** The login name, from the environment first: getpwuid() reads nsswitch and /etc/passwd on every run. */
export function localUser(): string {
  const fromEnv = process.env.USER || process.env.LOGNAME || process.env.USERNAME;
  if (fromEnv) return fromEnv;
  try {
    return userInfo().username;
  } catch {
    return 'user';
  }
}
