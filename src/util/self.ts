// The command a `credential_process` line should name to run this keyrole. botocore runs
// the line without a shell and without the user's interactive PATH (an IDE, cron, a
// systemd unit each have their own), so the line names this executable by absolute path:
// the single executable itself, or for the npm channel the Node running it and the script
// it was started with (`/usr/local/bin/node …/dist/keyrole.cjs`: the script's shebang would
// need `node` on PATH), in the quoting the platform's botocore splits (src/util/platform.ts).
// configure, import and sso populate use it.

import { isAbsolute, resolve } from 'node:path';
import { commandLine, selfWords } from './platform.ts';
import { nodeRequire } from './require.ts';

function isSea(): boolean {
  try {
    return (nodeRequire()('node:sea') as { isSea(): boolean }).isSea();
  } catch {
    return false;
  }
}

/** The absolute path of this keyrole, quoted for a credential_process line on this platform. */
export function selfCommand(): string {
  return commandLine(selfWords({ platform: process.platform, execPath: process.execPath, script: script(), isExecutable: isSea() }), process.platform);
}

/** The script Node runs (the npm channel), by absolute path. */
function script(): string | undefined {
  const argv1 = process.argv[1];
  return argv1 ? (isAbsolute(argv1) ? argv1 : resolve(argv1)) : undefined;
}

/** How to start this keyrole as a child: the executable, or Node and the script it runs. */
export function selfArgv(): string[] {
  const s = script();
  return isSea() || !s ? [process.execPath] : [process.execPath, s];
}
