// Hostile and broken config files, through the built executable: each gives one clear line
// on stderr, an empty stdout and a non-zero exit, or is read exactly as the SDKs read it.
// Rows go to docs/robustness.md (scripts/robustness-doc.ts).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { startWorld, keyroleProfile, type World } from './support/world.ts';
import { DEMO_ACCOUNT_ID } from './support/emulator.ts';
import type { RunResult } from './support/run.ts';
import { Recorder, assertOneLine, normalise } from '../scripts/robustness-doc.ts';
import { KEYROLE_KEYS } from '../src/config/checks.ts';

const ROLE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
const rec = new Recorder('config', 'test/robustness.config.test.ts');

describe('robustness: config files', () => {
  let w: World;
  let n = 0;
  const good = (name = 'prod', extra: Record<string, string | number> = {}) => keyroleProfile(name, { keyrole_source: 'alice', keyrole_role_arn: ROLE, ...extra });

  before(async () => {
    w = await startWorld();
    assert.equal((await w.setup('alice')).code, 0);
  });
  after(() => w?.stop());

  /** Writes `content` as a config file of its own and runs `keyrole process <profile>` on it. */
  async function withConfig(content: string | Buffer, profile = 'prod', env: Record<string, string> = {}, args: string[] = []): Promise<RunResult> {
    const path = join(w.home, `config-${++n}`);
    fs.writeFileSync(path, content, { mode: 0o600 });
    return w.keyrole(['process', profile, '--cache', 'none', ...args], { env: { AWS_CONFIG_FILE: path, KEYROLE_NTP: 'off', ...env } });
  }

  const observed = (r: RunResult) => `exit ${r.code}: ${normalise(r.code === 0 ? 'credentials on stdout' : r.stderr, [w.home])}`;

  /** A case that must fail with one line matching `pattern`. */
  function failing(name: string, what: string, expected: string, pattern: RegExp, make: () => Promise<RunResult>) {
    test(name, async () => {
      const r = await make();
      assertOneLine(r, pattern);
      rec.add(name, what, expected, observed(r));
    });
  }

  /** A case the SDK reads, and so must keyrole: credentials on stdout. */
  function accepted(name: string, what: string, expected: string, make: () => Promise<RunResult>, check?: (r: RunResult) => void) {
    test(name, async () => {
      const r = await make();
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { Version: number }).Version, 1);
      check?.(r);
      rec.add(name, what, expected, observed(r));
    });
  }

  failing('a missing config file', 'AWS_CONFIG_FILE names no file', 'one line saying the file does not exist',
    /profile "prod" is not in .* \(the file does not exist\)/, () => w.keyrole(['process', 'prod', '--cache', 'none'], { env: { AWS_CONFIG_FILE: join(w.home, 'nowhere') } }));

  failing('an empty config file', 'an empty file', 'unknown profile, naming the file', /profile "prod" is not in .*config-\d+; add a \[profile prod\] section/, () => withConfig(''));

  failing('a file that is not INI at all', 'prose, JSON or YAML instead of INI', 'unknown profile (the SDK reads no section either)',
    /profile "prod" is not in/, () => withConfig('{"profiles": {"prod": {"keyrole_source": "alice"}}}\nprod:\n  keyrole_source: alice\n'));

  failing('a section header without its closing bracket', '`[profile prod` (no `]`)', 'unknown profile, pointing at the broken line',
    /profile "prod" is not in .*; line 2 looks like its header but lacks the closing '\]': "\[profile prod"; fix that line/,
    () => withConfig(`# broken\n[profile prod\nkeyrole_source = alice\nkeyrole_role_arn = ${ROLE}\n`));

  failing('a keyrole line without "="', '`keyrole_role_arn arn:…` (no `=`)', 'one line naming the line',
    /line 3 of .* \(profile prod\) has no '=': "keyrole_role_arn arn:aws:iam::111122223333:role\/Admin"; write it as keyrole_name = value/,
    () => withConfig(`[profile prod]\nkeyrole_source = alice\nkeyrole_role_arn arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin\n`));

  failing('a keyrole key set twice in one section', '`keyrole_role_arn` twice in `[profile prod]`', 'one line naming the key and both lines',
    /keyrole_role_arn is set twice in profile prod in .* \(lines 3 and 4\); keep one of them/,
    () => withConfig(`[profile prod]\nkeyrole_source = alice\nkeyrole_role_arn = ${ROLE}\nkeyrole_role_arn = arn:aws:iam::${DEMO_ACCOUNT_ID}:role/ReadOnly\n`));

  failing('a keyrole key set in two sections of the same profile', '`[profile prod]` twice, each with `keyrole_role_arn`', 'one line naming the key and both lines (the SDK merges the sections, the last key wins)',
    /keyrole_role_arn is set twice in profile prod in .* \(lines 3 and 6\)/,
    () => withConfig(`[profile prod]\nkeyrole_source = alice\nkeyrole_role_arn = ${ROLE}\n[profile other]\n[profile prod]\nkeyrole_role_arn = arn:aws:iam::${DEMO_ACCOUNT_ID}:role/ReadOnly\n`));

  failing('a header broken so that keys fall into the previous profile', '`[profile b` after `[profile prod]`: b\'s keys land in prod', 'the duplicate is caught in prod',
    /keyrole_source is set twice in profile prod .* \(lines 2 and 5\)/,
    () => withConfig(`[profile prod]\nkeyrole_source = alice\nkeyrole_role_arn = ${ROLE}\n[profile b\nkeyrole_source = bob\n`));

  accepted('other keys set twice are the SDK\'s business: the last wins', '`region` twice, `[profile prod]` twice with other keys', 'read as the SDK reads it: sections merged, last `region` wins',
    () => withConfig(`[profile prod]\nregion = eu-west-1\nkeyrole_source = alice\nregion = eu-west-2\n[profile prod]\noutput = json\nkeyrole_role_arn = ${ROLE}\n`, 'prod', {}, ['--debug']),
    (r) => assert.match(r.stderr, /region eu-west-2 \(from region in profile prod\)/));

  failing('an unknown keyrole key close to a known one', '`keyrole_rol_arn` (a typo)', 'one line naming it and suggesting the known key',
    /profile prod in .* sets keyrole_rol_arn, which keyrole does not know \(a typo, or a setting of a newer keyrole\); did you mean keyrole_role_arn\?/,
    () => withConfig(`[profile prod]\nkeyrole_source = alice\nkeyrole_rol_arn = ${ROLE}\n`));

  failing('an unknown keyrole key far from any known one', '`keyrole_frobnicate_everything`', 'one line naming it, no guess',
    /sets keyrole_frobnicate_everything, which keyrole does not know .*; remove it/,
    () => withConfig(`${good()}keyrole_frobnicate_everything = 1\n`));

  accepted('unknown keys without the keyrole_ prefix are left alone', '`s3_turbo = yes`, `foo.bar = 1`', 'accepted (the SDK and plugins read their own keys)',
    () => withConfig(`${good()}s3_turbo = yes\nfoo.bar = 1\n`));

  failing('a duration that is a word', '`keyrole_duration_seconds = soon`', 'one line naming the key and the range',
    /keyrole_duration_seconds in profile prod = "soon" is not a whole number of seconds from 900 to 43200/, () => withConfig(good('prod', { keyrole_duration_seconds: 'soon' })));

  failing('a duration that is not an integer', '`keyrole_duration_seconds = 3600.5`', 'one line', /"3600\.5" is not a whole number/, () => withConfig(good('prod', { keyrole_duration_seconds: '3600.5' })));

  failing('a duration below the range', '`keyrole_duration_seconds = 899`', 'one line with the range', /"899" is not a whole number of seconds from 900 to 43200/, () => withConfig(good('prod', { keyrole_duration_seconds: 899 })));

  failing('a duration above the range', '`keyrole_duration_seconds = 43201`', 'one line with the range', /"43201" is not a whole number of seconds from 900 to 43200/, () => withConfig(good('prod', { keyrole_duration_seconds: 43201 })));

  failing('a duration too large for a number', '`keyrole_duration_seconds = 99999999999999999999`', 'one line', /is not a whole number/, () => withConfig(good('prod', { keyrole_duration_seconds: '99999999999999999999' })));

  failing('a yes/no setting that is neither', '`keyrole_mfa_on_assume = maybe`', 'one line (not a silent "no")', /keyrole_mfa_on_assume "maybe" in profile prod is not valid; write true or false/,
    () => withConfig(good('prod', { keyrole_mfa_on_assume: 'maybe' })));

  failing('a role ARN that is not one', '`keyrole_role_arn = arn:aws:iam::12:role/x`', 'one line', /role ARN "arn:aws:iam::12:role\/x" in profile prod is not an IAM role ARN/,
    () => withConfig(good('prod', { keyrole_role_arn: 'arn:aws:iam::12:role/x' })));

  failing('a 100 KB value', '`keyrole_role_arn` of 100,000 characters', 'one short line: the value is cut in the message', /role ARN "a{80}…" in profile prod is not an IAM role ARN/,
    () => withConfig(good('prod', { keyrole_role_arn: 'a'.repeat(100_000) })));

  failing('a cache store keyrole does not know', '`keyrole_cache = disk`', 'one line listing the stores', /keyrole_cache in profile prod = "disk" is not a cache store keyrole knows; use keychain \(the default\), file or none/,
    () => w.keyrole(['process', 'prod'], { env: { AWS_CONFIG_FILE: (() => { const p = join(w.home, `config-${++n}`); fs.writeFileSync(p, good('prod', { keyrole_cache: 'disk' })); return p; })(), KEYROLE_NTP: 'off' } }));

  failing('a flag of the wrong type', '`--duration soon` on the command line', 'one line naming the flag', /--duration = "soon" is not a whole number/, () => withConfig(good(), 'prod', {}, ['--duration', 'soon']));

  failing('a config file over 5 MB', 'a 6 MB file', 'refused with one line, without parsing it', /the AWS config file .* is larger than 5 MB/, () => withConfig(`${good()}# ${'x'.repeat(6 * 1024 * 1024)}\n`));

  test('a large config under the limit is read in bounded time', async (t) => {
    const profiles: string[] = [];
    for (let size = 0; size < 4 * 1024 * 1024;) {
      profiles.push(good(`p${profiles.length}`, { region: 'eu-west-1', output: 'json' }));
      size += profiles[profiles.length - 1].length + 1;
    }
    const r = await withConfig(profiles.join('\n'), 'p1000');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.ms < 10_000, `took ${r.ms.toFixed(0)} ms`);
    t.diagnostic(`${profiles.length} profiles read in ${r.ms.toFixed(0)} ms`);
    rec.add('a large config under the limit is read in bounded time', '4 MB of profiles', 'credentials on stdout', observed(r));
  });

  failing('an endless device as the config file', 'AWS_CONFIG_FILE=/dev/zero', 'refused after reading 5 MB, not a hang', /the AWS config file \/dev\/zero is larger than 5 MB/,
    () => w.keyrole(['process', 'prod', '--cache', 'none'], { env: { AWS_CONFIG_FILE: '/dev/zero' } }));

  failing('a directory as the config file', 'AWS_CONFIG_FILE names a directory', 'one line with the error code', /cannot read the AWS config file .* \(EISDIR\)/,
    () => w.keyrole(['process', 'prod', '--cache', 'none'], { env: { AWS_CONFIG_FILE: w.home } }));

  failing('bytes that are not UTF-8', 'a Latin-1 `é` in a comment on line 5', 'one line naming the file and the line', /line 5 of the AWS config file .*config-\d+ is not UTF-8 text; save the file as UTF-8/,
    () => withConfig(Buffer.concat([Buffer.from(`${good()}# caf`), Buffer.from([0xe9]), Buffer.from('\n')])));

  failing('bytes that are not UTF-8 in the credentials file', 'a stray 0xff byte in ~/.aws/credentials', 'one line naming the credentials file', /line 2 of the AWS credentials file .*credentials-bad is not UTF-8 text/, async () => {
    const creds = join(w.home, 'credentials-bad');
    fs.writeFileSync(creds, Buffer.concat([Buffer.from('[default]\nx = '), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]));
    return withConfig(good(), 'prod', { AWS_SHARED_CREDENTIALS_FILE: creds });
  });

  accepted('CRLF line endings', 'a file saved on Windows (CRLF)', 'read like LF', () => withConfig(good().replace(/\n/g, '\r\n')));

  accepted('a UTF-8 byte-order mark', 'a file starting with EF BB BF', 'read as the JS SDK reads it', () => withConfig(`\uFEFF${good()}`));

  failing('CR-only line endings', 'classic Mac OS line endings (CR alone)', 'unknown profile, saying why', /its lines end in CR alone \(classic Mac OS\), so the AWS tools read it as one line; save it with LF or CRLF line endings$/m, () => withConfig(good().replace(/\n/g, '\r')));

  failing('a NUL byte inside a value', '`keyrole_source = al\\0ice`', 'one line (the name is invalid)', /source name "al\\u0000ice" in profile prod is not valid/, () => withConfig(good('prod', { keyrole_source: 'al\0ice' })));

  failing('a section named __proto__', '`[profile __proto__]`', 'one line, no prototype pollution', /the config has a section named \[profile __proto__\], which is not allowed/, () => withConfig(`${good()}[profile __proto__]\nkeyrole_source = x\n`));

  failing('a profile named like an Object property', '`keyrole process constructor` / `hasOwnProperty`', 'unknown profile, not a crash', /profile "constructor" is not in/, () => withConfig(good(), 'constructor'));

  failing('a profile chain that loops', 'a → b → a with keyrole_source_profile', 'one line naming the cycle', /the profiles source each other in a cycle: a → b → a; break the cycle/,
    () => withConfig([
      keyroleProfile('a', { keyrole_source_profile: 'b', keyrole_role_arn: ROLE }),
      keyroleProfile('b', { keyrole_source_profile: 'a', keyrole_role_arn: ROLE }),
    ].join('\n'), 'a'));

  failing('a profile that sources itself', 'a → a', 'one line naming the cycle', /cycle: a → a/, () => withConfig(keyroleProfile('a', { keyrole_source_profile: 'a', keyrole_role_arn: ROLE }), 'a'));

  failing('a long profile chain that loops', '40 profiles in a ring', 'one line, no stack overflow', /the profiles source each other in a cycle: r0 → r1 → .* → r0/, () => {
    const ring = Array.from({ length: 40 }, (_, i) => keyroleProfile(`r${i}`, { keyrole_source_profile: `r${(i + 1) % 40}`, keyrole_role_arn: ROLE }));
    return withConfig(ring.join('\n'), 'r0');
  });

  failing('a source profile that does not exist', '`keyrole_source_profile = ghost`', 'one line naming it', /profile prod has keyrole_source_profile = ghost, which is not in/,
    () => withConfig(keyroleProfile('prod', { keyrole_source_profile: 'ghost', keyrole_role_arn: ROLE })));

  test('every keyrole_* key the sources read is a known key (so none is refused as unknown)', () => {
    const used = new Set<string>();
    const walk = (dir: string) => {
      for (const f of fs.readdirSync(dir, { withFileTypes: true })) {
        if (f.isDirectory()) walk(join(dir, f.name));
        else if (f.name.endsWith('.ts')) for (const m of fs.readFileSync(join(dir, f.name), 'utf8').matchAll(/[.?]\s*(keyrole_[a-z_]+)\b(?!\s*\()/g)) used.add(m[1]);
      }
    };
    walk(join(import.meta.dirname, '..', 'src'));
    const unknown = [...used].filter((k) => !KEYROLE_KEYS.includes(k));
    assert.deepEqual(unknown, [], 'add these to KEYROLE_KEYS in src/config/checks.ts');
  });

  rec.docTest(38);
});
