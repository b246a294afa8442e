// `keyrole serve` options seen from outside: `--port` as the AWS CLI reaches it (and a port
// in use, or not a port, as one line), and the desktop notification that goes with the
// warning before an MFA session ends (src/server/warn.ts), seen by a recording `notify-send`
// on PATH: the real caller's view of that command (its argv), with no notification daemon.

import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { keyroleProfile, resetWorld, worldWithSource, type World } from './support/world.ts';
import { serve as serveIn, type Serving } from './support/server.ts';
import { assertOneLine } from '../scripts/robustness-doc.ts';
import { DEMO_ACCOUNT_ID, DEMO_MFA_SECRET, DEMO_MFA_SERIAL } from './support/emulator.ts';
import { requireTool } from './support/tools.ts';
import { totp } from './support/totp.ts';

const ROLE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;

/** A loopback TCP port that was free a moment ago. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

describe('serve --port and the desktop notification', () => {
  let w: World;
  const running: Serving[] = [];

  /** `keyrole serve <args>`, once it says it is serving; killed after the suite if a test left it running. */
  async function serve(args: string[], env: Record<string, string> = {}): Promise<Serving> {
    const s = await serveIn(w, args, env);
    running.push(s);
    return s;
  }

  /**
   * Resolves when `cond` holds. The deadline is only there so that a broken feature fails in a
   * minute rather than at the suite's 10-minute timeout: what is awaited follows at once.
   */
  async function until(cond: () => boolean, what: string): Promise<void> {
    const end = Date.now() + 60_000;
    while (!cond()) {
      if (Date.now() > end) assert.fail(`${what} did not happen within 60 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  before(async () => {
    requireTool('aws');
    requireTool('oathtool');
    w = await worldWithSource([
      keyroleProfile('srv', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_role_arn: ROLE }),
      keyroleProfile('mfa', { region: 'eu-west-1', keyrole_source: 'alice', keyrole_role_arn: ROLE, keyrole_mfa_serial: DEMO_MFA_SERIAL }),
    ].join('\n'));
  });
  after(async () => {
    for (const s of running) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    await w?.stop();
  });
  beforeEach(() => resetWorld(w));

  test('serve --port N listens on that port, and the AWS CLI gets the role through it', async () => {
    const port = await freePort();
    const s = await serve(['srv', '--port', String(port)]);
    try {
      assert.match(s.stdout(), new RegExp(`^export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127\\.0\\.0\\.1:${port}/`, 'm'));
      assert.match(s.stderr(), new RegExp(`serving srv at http://127\\.0\\.0\\.1:${port}/`));
      // What the user pastes: serve's lines, then the AWS CLI (with no profile) in that shell.
      const lines = join(w.home, 'serve.env');
      writeFileSync(lines, s.stdout());
      const cli = await w.run('sh', ['-c', `. ${lines} && aws sts get-caller-identity --output text --query Arn`], { env: { AWS_PROFILE: undefined } });
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout.trim(), /^arn:aws:sts::\d{12}:assumed-role\/Admin\//);

      // The same port again: in use, said in one line.
      const again = await w.keyrole(['serve', 'srv', '--port', String(port)]);
      assertOneLine(again, new RegExp(`^keyrole: port ${port} on 127\\.0\\.0\\.1 is in use; choose another with --port`));
    } finally {
      await s.stop();
    }
  });

  test('serve --port with something that is not a port is a usage error', async () => {
    for (const bad of ['0', '65536', 'http', '80.5']) {
      const r = await w.keyrole(['serve', 'srv', '--port', bad]);
      assertOneLine(r, new RegExp(`^keyrole: --port "${bad.replace('.', '\\.')}" is not a port number; give 1 to 65535`));
      assert.equal(r.code, 2, 'a usage error');
    }
  });

  test('the warning before an MFA session ends is also a desktop notification (notify-send, with a display)', async () => {
    // A notify-send that records its argv, first on PATH.
    const bin = join(w.home, 'bin');
    mkdirSync(bin, { recursive: true });
    const record = join(w.home, 'notify-send.argv');
    writeFileSync(join(bin, 'notify-send'), `#!/bin/sh\nprintf '%s\\n' "$@" > ${record}.tmp && mv ${record}.tmp ${record}\n`);
    chmodSync(join(bin, 'notify-send'), 0o755);
    // 10-minute credentials: the MFA session behind the role ends within the 15-minute warning time.
    await w.emu.behaviour({ credentialLifetimeSeconds: 600 });
    const code = totp(DEMO_MFA_SECRET);
    const s = await serve(['mfa'], { KEYROLE_MFA_TOKEN: code, DISPLAY: ':99', PATH: `${bin}:${process.env.PATH}` });
    try {
      await until(() => /behind profile mfa ends in/.test(s.stderr()), 'the warning on stderr');
      const warning = /^keyrole: (.*behind profile mfa ends in.*)$/m.exec(s.stderr())![1];
      assert.match(warning, /^the MFA session of source "alice" .*behind profile mfa ends in \d+ min .*; run keyrole login mfa in another terminal/);
      // keyrole spawns notify-send right after that line.
      await until(() => existsSync(record), 'notify-send being run');
      assert.deepEqual(readFileSync(record, 'utf8').split('\n').slice(0, -1), ['--app-name=keyrole', 'keyrole', warning], 'notify-send was given the warning');
    } finally {
      await s.stop();
    }
  });
});
