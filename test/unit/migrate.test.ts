// keyrole import's plan (src/config/migrate.ts), from text alone: the cases the e2e test
// does not run through the AWS CLI.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOnly, collectKeySections, compareWithExisting, keysStillNeeded, planImport, resolveProfiles, type PlanOptions } from '../../src/config/migrate.ts';
import { configSections, parseIni } from '../../src/config/ini.ts';

const ID = 'AKIAKEYROLEDEMO00001';
const SECRET = 'keyroleDemoSecret/DoNotUse+0000000000000';
const ROLE = 'arn:aws:iam::111122223333:role/Admin';

function plan(configText: string, credentialsText: string, o: Partial<PlanOptions> = {}) {
  return planImport({
    configPath: '/c', credentialsPath: '/k', configText, credentialsText, command: '/bin/keyrole',
    existing: () => 'absent', force: false, localUser: 'me', ...o,
  });
}
const keys = (name: string, id = ID) => `[${name}]\naws_access_key_id = ${id}\naws_secret_access_key = ${SECRET}\n`;

test('a role profile whose source_profile is itself takes its own section\'s key', () => {
  const p = plan(`[profile self]\nrole_arn = ${ROLE}\nsource_profile = self\n`, keys('self'));
  assert.deepEqual(p.keys.map((k) => k.name), ['self']);
  assert.equal(p.configText, `[profile self]\nkeyrole_role_arn = ${ROLE}\nkeyrole_source = self\ncredential_process = /bin/keyrole process self\n`);
  assert.equal(p.credentialsText, '[self]\n');
});

test('a chain: source_profile naming a role profile becomes keyrole_source_profile', () => {
  const p = plan(`[profile a]\nrole_arn = ${ROLE}\nsource_profile = u\n[profile b]\nrole_arn = ${ROLE}\nsource_profile = a\n`, keys('u'));
  assert.match(p.configText, /\[profile b\]\nkeyrole_role_arn = .*\nkeyrole_source_profile = a\ncredential_process/);
  assert.match(p.configText, /\[profile u\]\ncredential_process = \/bin\/keyrole process u\nkeyrole_source = u\n$/);
});

// The bug (issue 23): this working botocore profile (botocore sends the code with
// AssumeRole) became a keyrole profile that assumed the role with its MFA session, which AWS
// refuses over an hour. The lines are the same; the plan says how keyrole now assumes it.
test('a botocore MFA role at 43200 s: renamed as it is, and the plan says the code goes with AssumeRole', () => {
  const mfa = 'arn:aws:iam::111122223333:mfa/u';
  const p = plan(`[profile long]\nrole_arn = ${ROLE}\nsource_profile = u\nmfa_serial = ${mfa}\nduration_seconds = 43200\n`, keys('u'));
  assert.equal(p.configText, `[profile long]\nkeyrole_role_arn = ${ROLE}\nkeyrole_source = u\nkeyrole_mfa_serial = ${mfa}\nkeyrole_duration_seconds = 43200\ncredential_process = /bin/keyrole process long\n\n[profile u]\ncredential_process = /bin/keyrole process u\nkeyrole_source = u\n`);
  const long = p.profiles.find((x) => x.profile === 'long')!;
  assert.match(long.description, /\(mfa_serial, duration_seconds carried over\): AssumeRole for 43200 s with source "u"'s long-term key and an MFA code sent with it/);
});

test('a chained role over an hour (AWS refuses it to botocore too) is left as it is, with the reason, and so is the key it needs', () => {
  const p = plan(`[profile a]\nrole_arn = ${ROLE}\nsource_profile = u\n[profile b]\nrole_arn = ${ROLE}\nsource_profile = a\nduration_seconds = 7200\n`, keys('u'));
  assert.ok(p.notes.some((n) => /profile b asks for a 7200 s role, but the role is assumed with profile a's credentials, which are temporary/.test(n)), p.notes.join('\n'));
  assert.deepEqual(p.keys, []);
  assert.equal(p.configChanged, false);
});

test('a source_profile cycle is left alone, and so is the key it needs', () => {
  const p = plan(`[profile a]\nrole_arn = ${ROLE}\nsource_profile = b\n[profile b]\nrole_arn = ${ROLE}\nsource_profile = a\n`, keys('u'));
  assert.ok(p.notes.some((n) => /profile a left as it is: its source_profile b cannot be converted/.test(n)), p.notes.join('\n'));
  assert.deepEqual(p.keys.map((k) => k.name), ['u']);
});

test('a profile keyrole would refuse (duration out of range) keeps its key in the file', () => {
  const p = plan(`[profile r]\nrole_arn = ${ROLE}\nsource_profile = u\nduration_seconds = 50\n`, keys('u'));
  assert.deepEqual(p.keys, []);
  assert.ok(p.notes.some((n) => /^u left alone: profile r still needs its key and cannot run through keyrole \(keyrole_duration_seconds/.test(n)), p.notes.join('\n'));
  assert.equal(p.credentialsChanged, false);
  assert.equal(p.configChanged, false);
});

test('static keys written in the config are imported and their lines removed', () => {
  const p = plan(`# c\n[profile s]\nregion = eu-west-1\naws_access_key_id = ${ID}\naws_secret_access_key = ${SECRET}\n`, '');
  assert.deepEqual(p.keys.map((k) => [k.name, k.from]), [['s', ['config']]]);
  assert.equal(p.configText, `# c\n[profile s]\nregion = eu-west-1\ncredential_process = /bin/keyrole process s\nkeyrole_source = s\n`);
});

test('different keys for one name in both files: left alone', () => {
  const p = plan(`[profile s]\naws_access_key_id = AKIAKEYROLEDEMO00002\naws_secret_access_key = ${SECRET}\n`, keys('s'));
  assert.deepEqual(p.keys, []);
  assert.ok(p.notes.some((n) => /different keys/.test(n)));
});

test('[profile x] in the credentials file is not a profile to the SDKs: not imported', () => {
  const p = plan('', `[profile x]\naws_access_key_id = ${ID}\naws_secret_access_key = ${SECRET}\n`);
  assert.deepEqual(p.keys, []);
});

test('a profile that already runs keyrole is kept; its shadowing plaintext key is imported', () => {
  const cfg = `[profile k]\ncredential_process = keyrole process k\nkeyrole_source = other\n`;
  const p = plan(cfg, keys('k'));
  assert.equal(p.configText, cfg);
  assert.deepEqual(p.keys.map((k) => k.name), ['k']);
  assert.ok(p.notes.some((n) => /profile k already runs keyrole/.test(n)));
});

test('a name whose stored key is unreadable is left alone unless --force', () => {
  assert.deepEqual(plan('', keys('u'), { existing: () => 'unreadable' }).keys, []);
  assert.deepEqual(plan('', keys('u'), { existing: () => 'unreadable', force: true }).keys.map((k) => k.name), ['u']);
});

test('--profile names a section that does not exist: said in the notes', () => {
  const p = plan('', keys('u'), { only: ['nope'] });
  assert.deepEqual(p.keys, []);
  assert.ok(p.notes.some((n) => /^nope: no long-term key section of that name/.test(n)));
});

test('CRLF files keep their line ends', () => {
  const p = plan('[profile u]\r\nregion = eu-west-1\r\n', `[u]\r\naws_access_key_id = ${ID}\r\naws_secret_access_key = ${SECRET}\r\n# kept\r\n`);
  assert.equal(p.credentialsText, '[u]\r\n# kept\r\n');
  assert.equal(p.configText, '[profile u]\r\nregion = eu-west-1\r\ncredential_process = /bin/keyrole process u\r\nkeyrole_source = u\r\n');
});

// planImport's steps, one by one (src/config/migrate.ts: the named steps planImport runs).
describe('planImport, step by step', () => {
  const paths = { configPath: '/c', credentialsPath: '/k' };
  const sections = (text: string) => configSections(parseIni(text));

  test('collectKeySections: the same key in both files is one key from both; different keys are left alone with a note', () => {
    const notes: string[] = [];
    const same = collectKeySections(paths, parseIni(keys('u')), sections(`[profile u]\n${keys('u').split('\n').slice(1).join('\n')}`), notes);
    assert.deepEqual(same.candidates.get('u')?.from, ['credentials', 'config']);
    assert.deepEqual(notes, []);
    const differ = collectKeySections(paths, parseIni(keys('u')), sections(`[profile u]\naws_access_key_id = AKIAKEYROLEDEMO00002\naws_secret_access_key = ${SECRET}\n`), notes);
    assert.equal(differ.candidates.size, 0);
    assert.ok(differ.temporary.has('u'));
    assert.match(notes[0], /^u left alone: the credentials file and the config hold different keys/);
  });

  test('applyOnly keeps the named key sections and notes a name with none', () => {
    const notes: string[] = [];
    const ks = collectKeySections(paths, parseIni(keys('u') + keys('v')), {}, notes);
    applyOnly(ks, ['v', 'w'], paths, notes);
    assert.deepEqual([...ks.candidates.keys()], ['v']);
    assert.deepEqual(notes, ['w: no long-term key section of that name in /k or /c']);
  });

  test('compareWithExisting: a different stored key stays unless forced', () => {
    const notes: string[] = [];
    const ks = collectKeySections(paths, parseIni(keys('u')), {}, notes);
    compareWithExisting(ks, () => 'different', true, notes);
    assert.equal(ks.candidates.size, 1);
    compareWithExisting(ks, () => 'different', false, notes);
    assert.equal(ks.candidates.size, 0);
    assert.match(notes[0], /^u left alone: the keychain already holds a different key as source "u"/);
  });

  test('resolveProfiles: a chain rests on the key of its base; a cycle is named', () => {
    const cfg = sections(`[profile a]\nrole_arn = ${ROLE}\nsource_profile = u\n[profile b]\nrole_arn = ${ROLE}\nsource_profile = a\n[profile x]\nrole_arn = ${ROLE}\nsource_profile = y\n[profile y]\nrole_arn = ${ROLE}\nsource_profile = x\n`);
    const ks = collectKeySections(paths, parseIni(keys('u')), cfg, []);
    const { converted, failed } = resolveProfiles(cfg, ks);
    assert.deepEqual(converted.get('a'), { ok: true, sourceKey: 'keyrole_source', deps: new Set(['u']) });
    assert.deepEqual(converted.get('b'), { ok: true, sourceKey: 'keyrole_source_profile', deps: new Set(['u']) });
    assert.deepEqual(failed.map((f) => [f.profile, f.why]), [['x', 'its source_profile y cannot be converted'], ['y', 'its source_profile x cannot be converted']]);
  });

  test('keysStillNeeded names every failed profile that needs a key, once per key', () => {
    const ks = collectKeySections(paths, parseIni(keys('u')), {}, []);
    const drop = keysStillNeeded([{ profile: 'a', why: 'because', deps: new Set(['u']) }, { profile: 'b', why: 'other', deps: new Set(['u']) }], ks);
    assert.deepEqual([...drop], [['u', 'u left alone: profiles a, b still need its key and cannot run through keyrole (because)']]);
  });
});
