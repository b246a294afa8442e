// The command a `credential_process` line should name to run this keyrole. botocore runs
// the line without a shell and without the user's interactive PATH (an IDE, cron, a
// systemd unit each have their own), so the line names this executable by absolute path:
// the single executable itself, or for the npm channel the script Node was started with
// (the npm bin link, whose shebang starts Node). configure, import and sso populate use it.

import { isAbsolute, resolve } from 'node:path';
import { shlexQuote } from '../config/shlex.ts';
import { nodeRequire } from './require.ts';

function isSea(): boolean {
  try {
    return (nodeRequire()('node:sea') as { isSea(): boolean }).isSea();
  } catch {
    return false;
  }
}

/** The absolute path of this keyrole, shell-quoted for a credential_process line. */
export function selfCommand(): string {
  const script = process.argv[1];
  const self = isSea() || !script ? process.execPath : isAbsolute(script) ? script : resolve(script);
  return shlexQuote(self);
}
