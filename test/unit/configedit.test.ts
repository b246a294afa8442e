// setProfileValues: one profile changed, every other byte of the config kept; and what it
// writes reads back (through keyrole's parser, checked against the SDK's) as intended.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readFileSync, statSync, writeFileSync, symlinkSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { backupFile, keyroleBackups, rewriteConfig, setProfileValues, writeFileAtomic } from '../../src/config/configedit.ts';
import { configSections, parseIni } from '../../src/config/ini.ts';
import { tempDir } from '../support/tmp.ts';

const read = (text: string, profile: string) => ({ ...configSections(parseIni(text))[profile] });

describe('setProfileValues', () => {
  test('a new profile is appended after a blank line; the file before it is untouched', () => {
    const before = '# comment\n[default]\nregion = us-east-1\n';
    const r = setProfileValues(before, 'prod', [['keyrole_source', 'alice'], ['region', 'eu-west-1']]);
    assert.equal(r.text, `${before}\n[profile prod]\nkeyrole_source = alice\nregion = eu-west-1\n`);
    assert.equal(r.created, true);
  });

  test('an empty file gets just the section; a file without a final newline gets one', () => {
    assert.equal(setProfileValues('', 'p', [['a', '1']]).text, '[profile p]\na = 1\n');
    assert.equal(setProfileValues('[default]\nregion = x', 'p', [['a', '1']]).text, '[default]\nregion = x\n\n[profile p]\na = 1\n');
  });

  test('existing values are replaced on their own line: indentation, spacing and trailing comments kept', () => {
    const before = '[profile p]\n  region=eu-west-1 ; where\nkeyrole_source   =   bob   # old\n';
    const r = setProfileValues(before, 'p', [['region', 'us-west-2'], ['keyrole_source', 'alice']]);
    assert.equal(r.text, '[profile p]\n  region=us-west-2 ; where\nkeyrole_source   =   alice   # old\n');
    assert.deepEqual(r.changed, ['region', 'keyrole_source']);
    assert.deepEqual(read(r.text, 'p'), { region: 'us-west-2', keyrole_source: 'alice' });
  });

  test('new keys go after the last setting, before trailing comments and blank lines of the section', () => {
    const before = '[profile p]\nregion = x\n# about the next profile\n\n[profile q]\nregion = y\n';
    const r = setProfileValues(before, 'p', [['keyrole_source', 'alice']]);
    assert.equal(r.text, '[profile p]\nregion = x\nkeyrole_source = alice\n# about the next profile\n\n[profile q]\nregion = y\n');
  });

  test('a nested block (s3 = …) is neither mistaken for top-level keys nor split', () => {
    const before = '[profile p]\ns3 =\n  region = inner\n  max_concurrent_requests = 20\n';
    const r = setProfileValues(before, 'p', [['region', 'outer']]);
    assert.equal(r.text, `${before}region = outer\n`);
    assert.deepEqual(read(r.text, 'p'), { 's3.region': 'inner', 's3.max_concurrent_requests': '20', region: 'outer' });
  });

  test('[default] and [profile default] both hold the default profile; other section types are never touched', () => {
    assert.equal(setProfileValues('[default]\nregion = x\n', 'default', [['region', 'y']]).text, '[default]\nregion = y\n');
    assert.equal(setProfileValues('[profile default]\nregion = x\n', 'default', [['region', 'y']]).text, '[profile default]\nregion = y\n');
    const sso = '[sso-session prod]\nsso_region = x\n';
    assert.equal(setProfileValues(sso, 'prod', [['region', 'y']]).text, `${sso}\n[profile prod]\nregion = y\n`);
    // A bare [prod] is not a profile in the config file.
    assert.equal(setProfileValues('[prod]\nregion = x\n', 'prod', [['region', 'y']]).text, '[prod]\nregion = x\n\n[profile prod]\nregion = y\n');
  });

  test('CRLF files stay CRLF', () => {
    const before = '[profile p]\r\nregion = x\r\n';
    assert.equal(setProfileValues(before, 'p', [['region', 'y'], ['a', 'b']]).text, '[profile p]\r\nregion = y\r\na = b\r\n');
  });

  test('a header with a comment and odd spacing is found', () => {
    const before = '[ profile  p ]   # mine\nregion = x\n';
    assert.equal(setProfileValues(before, 'p', [['region', 'y']]).text, '[ profile  p ]   # mine\nregion = y\n');
  });

  test('setting a value to what it is changes nothing', () => {
    const r = setProfileValues('[profile p]\nregion = x # c\n', 'p', [['region', 'x']]);
    assert.deepEqual([r.changed, r.added], [[], []]);
  });

  test('values with line breaks or surrounding spaces are refused', () => {
    assert.throws(() => setProfileValues('', 'p', [['a', 'x\ny']]), /cannot be written/);
    assert.throws(() => setProfileValues('', 'p', [['a', ' x']]), /cannot be written/);
  });
});

describe('backup and atomic write', () => {
  test('the backup is a 0600 copy; the write keeps the mode and follows a symlinked config', () => {
    const dir = tempDir('cfg-');
    const real = join(dir, 'dotfiles-config');
    writeFileSync(real, 'old\n', { mode: 0o640 });
    const link = join(dir, 'config');
    symlinkSync(real, link);
    const b = backupFile(link, new Date('2026-01-02T03:04:05.678Z'))!;
    assert.equal(b, join(dir, 'config.keyrole-backup-20260102T030405Z'));
    assert.equal(readFileSync(b, 'utf8'), 'old\n');
    assert.equal(statSync(b).mode & 0o777, 0o600);
    assert.equal(backupFile(link, new Date('2026-01-02T03:04:05.678Z')), `${b}-1`, 'a second backup in the same second gets its own name');
    writeFileAtomic(link, 'new\n');
    assert.equal(readFileSync(real, 'utf8'), 'new\n', 'written through the link');
    assert.equal(statSync(real).mode & 0o777, 0o640, 'mode kept');
    assert.ok(readdirSync(dir).every((n) => !n.endsWith('.tmp')), 'no temp file left');
    assert.equal(backupFile(join(dir, 'missing')), undefined);
  });

  test('regression (sso populate backed a symlinked config up beside the link\'s target, where doctor and import\'s scrub never look): rewriteConfig backs up beside the path given, 0600, and writes through the link keeping the mode', () => {
    const dir = tempDir('rewrite-');
    const real = join(dir, 'dotfiles-config');
    writeFileSync(real, 'old\n', { mode: 0o640 });
    const link = join(dir, 'config');
    symlinkSync(real, link);
    const backup = rewriteConfig(link, 'new\n', { now: new Date('2030-01-02T03:04:05.678Z') });
    assert.equal(backup, `${link}.keyrole-backup-20300102T030405Z`);
    assert.deepEqual(keyroleBackups(link), ['config.keyrole-backup-20300102T030405Z'], 'where doctor and import look');
    assert.equal(readFileSync(backup!, 'utf8'), 'old\n');
    assert.equal(statSync(backup!).mode & 0o777, 0o600);
    assert.equal(readFileSync(real, 'utf8'), 'new\n');
    assert.equal(statSync(real).mode & 0o777, 0o640);
    assert.ok(lstatSync(link).isSymbolicLink(), 'the symlink stays a symlink');
    // backup: false (import, when the config itself held secrets) makes none.
    assert.equal(rewriteConfig(link, 'newer\n', { backup: false }), undefined);
    assert.equal(keyroleBackups(link).length, 1);
    // A new file: no backup, 0600.
    const fresh = join(dir, 'sub', 'config');
    assert.equal(rewriteConfig(fresh, 'x\n'), undefined);
    assert.equal(statSync(fresh).mode & 0o777, 0o600);
  });
});
