// npm run demo: keyrole's main job end to end against the local AWS emulator (keyrole
// itself talks to real AWS; the demo points it at the emulator with AWS_ENDPOINT_URL_STS).
// A private HOME, a real gnome-keyring on a private D-Bus, the built executable, and the
// real AWS CLI as the caller. Prints what happens at each step.

import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startKeyring } from '../test/support/keyring.ts';
import { startEmulatorProcess, DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY, DEMO_ACCOUNT_ID } from '../test/support/emulator.ts';
import { KEYROLE, ROOT, keyrole, run, requireBuild } from '../test/support/run.ts';
import { requireTool } from '../test/support/tools.ts';

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
let n = 0;
const step = (title: string) => console.log(`\n${bold(`${++n}. ${title}`)}`);
const show = (cmd: string) => console.log(`   $ ${cmd}`);
const indent = (s: string) => s.trimEnd().split('\n').map((l) => `     ${l}`).join('\n');

async function main(): Promise<void> {
  requireBuild();
  const aws = requireTool('aws');

  step('Start the local AWS emulator (STS with SigV4 checks, expiry and clock-skew rules)');
  const emu = await startEmulatorProcess();
  console.log(`   listening on ${emu.url}; IAM user alice (${DEMO_ACCESS_KEY_ID}) may assume arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`);

  step('Start a real gnome-keyring on a private D-Bus session, in a throw-away HOME');
  const keyring = await startKeyring();
  // KEYROLE_KERNEL_CACHE as a user has it (unset): the kernel keyring's copies on.
  const env = { ...keyring.env, AWS_ENDPOINT_URL_STS: emu.url, KEYROLE_KERNEL_CACHE: undefined };
  console.log(`   HOME=${keyring.home}`);

  try {
    step("Store alice's long-term key in the keychain, checked with STS first (piped, as a script would; at a terminal keyrole asks without echo)");
    show('printf "%s\\n%s\\n" "$ID" "$SECRET" | keyrole setup alice');
    const s = await keyrole(['setup', 'alice'], { env, input: `${DEMO_ACCESS_KEY_ID}\n${DEMO_SECRET_ACCESS_KEY}\n` });
    if (s.code !== 0) throw new Error(s.stderr);
    console.log(indent(s.stderr + s.stdout));

    step('Write the profile: the AWS CLI will run keyrole as its credential_process');
    mkdirSync(join(keyring.home, '.aws'), { recursive: true, mode: 0o700 });
    const config = `[profile prod]\nregion = eu-west-1\ncredential_process = ${KEYROLE} process prod\nkeyrole_source = alice\nkeyrole_role_arn = arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin\nkeyrole_duration_seconds = 3600\n`;
    writeFileSync(join(keyring.home, '.aws', 'config'), config, { mode: 0o600 });
    console.log(indent(config));

    step('The real AWS CLI asks for the caller identity (cold: keyrole assumes the role)');
    show('aws sts get-caller-identity --profile prod');
    const first = await run(aws, ['sts', 'get-caller-identity', '--profile', 'prod', '--output', 'json'], { env });
    if (first.code !== 0) throw new Error(first.stderr);
    console.log(indent(first.stdout));
    console.log(`   took ${first.ms.toFixed(0)} ms`);

    step('Again (warm: keyrole answers from its keychain cache, no STS call)');
    const second = await run(aws, ['sts', 'get-caller-identity', '--profile', 'prod', '--output', 'json'], { env });
    if (second.code !== 0) throw new Error(second.stderr);
    console.log(`   same identity: ${JSON.parse(second.stdout).Arn}; took ${second.ms.toFixed(0)} ms`);

    step('What credential_process sees, traced with --debug (the trace is on stderr, secrets redacted)');
    show('keyrole process prod --debug');
    const dbg = await keyrole(['process', 'prod', '--debug'], { env });
    console.log(indent(dbg.stderr));
    const blob = JSON.parse(dbg.stdout) as Record<string, string>;
    console.log(indent(`stdout: {"Version":1,"AccessKeyId":"${blob.AccessKeyId}","SecretAccessKey":"…","SessionToken":"…","Expiration":"${blob.Expiration}","AccountId":"${blob.AccountId}"}`));

    step('The emulator counted the calls');
    const stats = await emu.stats();
    console.log(indent(Object.entries(stats.calls).map(([k, v]) => `${k}: ${v}`).join('\n')));
    console.log(`   One AssumeRole for ${1 + 1 + 1} credential requests: the rest came from the cache.`);

    step('No long-term key at all: keyrole login signs in with AWS Sign-In (as aws login does) and writes a profile');
    // The emulator approves the sign-in page as a person would; BROWSER follows keyrole's page
    // file to it (keyrole never puts the /authorize URL on a browser's argv).
    await emu.control('POST', 'login/behaviour', { autoAuthorize: true });
    const browser = join(keyring.home, 'browser.sh');
    writeFileSync(browser, `#!/bin/sh\ncurl -sSL -o /dev/null "$(${join(ROOT, 'test', 'fixtures', 'page-url.sh')} "$1")"\n`);
    chmodSync(browser, 0o755);
    const signinEnv = { ...env, AWS_ENDPOINT_URL_SIGNIN: emu.url, BROWSER: browser };
    show('keyrole login dev --region eu-west-1');
    const login = await keyrole(['login', 'dev', '--region', 'eu-west-1'], { env: signinEnv });
    if (login.code !== 0) throw new Error(login.stderr);
    console.log(indent(login.stderr));
    console.log(indent(readFileSync(join(keyring.home, '.aws', 'config'), 'utf8').split('[profile dev]')[1]!.replace(/^/, '[profile dev]')));
    show('aws sts get-caller-identity --profile dev');
    const dev = await run(aws, ['sts', 'get-caller-identity', '--profile', 'dev', '--query', 'Arn', '--output', 'text'], { env: signinEnv });
    if (dev.code !== 0) throw new Error(dev.stderr);
    console.log(indent(dev.stdout));
    console.log('   The session (refresh token and DPoP key) is in the keychain; no key or token is in any file.');

    step('keyrole cache list');
    const list = await keyrole(['cache', 'list'], { env: signinEnv });
    console.log(indent(list.stdout));
    console.log(`\n${bold('Demo complete.')}`);
  } finally {
    // The kernel keyring's copy would outlive the demo (the user's persistent keyring).
    await keyrole(['logout', 'dev'], { env: { ...env, AWS_ENDPOINT_URL_SIGNIN: emu.url } }).catch(() => undefined);
    await keyrole(['cache', 'clear'], { env }).catch(() => undefined);
    await emu.stop();
    await keyring.stop();
  }
}

main().catch((err) => {
  console.error(`demo failed: ${(err as Error).message}`);
  process.exitCode = 1;
});
