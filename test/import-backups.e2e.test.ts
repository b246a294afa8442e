// Regression (issue 23, audit): `keyrole import` said "no plaintext keys" while an earlier
// `keyrole configure` had copied a long-term secret into its 0600 backup of the config
// (config.keyrole-backup-*), and doctor never looked there. The built keyrole, a real
// gnome-keyring: configure makes the backup, doctor names it, import removes the secret it
// stored from the backup and says so, doctor is content; a secret in a backup that is not in
// the keychain is kept and named.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, type World } from './support/world.ts';
import { DEMO_ACCESS_KEY_ID, DEMO_ACCOUNT_ID, DEMO_SECRET_ACCESS_KEY } from './support/emulator.ts';

const ROLE = `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`;
const OTHER_SECRET = 'otherSecretOtherSecretOtherSecretOther12';

describe('keyrole import and doctor: keyrole\'s own config backups hold no plaintext key', () => {
  let w: World;
  const backups = () => readdirSync(join(w.home, '.aws')).filter((n) => n.startsWith('config.keyrole-backup-')).map((n) => join(w.home, '.aws', n));

  before(async () => {
    w = await startWorld();
    // Static keys written in the config, as some guides show.
    w.writeConfig(`[profile ci]
region = eu-west-1
aws_access_key_id = ${DEMO_ACCESS_KEY_ID}
aws_secret_access_key = ${DEMO_SECRET_ACCESS_KEY}
`);
  });
  after(() => w?.stop());

  test('configure backs the config up with the secret in it; doctor names the config and the backup', async () => {
    const c = await w.keyrole(['configure', 'prod', '--source', 'ci', '--role-arn', ROLE]);
    assert.equal(c.code, 0, c.stderr);
    const [backup] = backups();
    assert.ok(backup, 'configure made a backup');
    assert.equal(statSync(backup).mode & 0o777, 0o600);
    assert.ok(readFileSync(backup, 'utf8').includes(`aws_secret_access_key = ${DEMO_SECRET_ACCESS_KEY}`));
    const d = await w.keyrole(['doctor', 'prod', '--no-network']);
    assert.match(d.stdout, /^problem +plaintext keys +1 long-term access key is stored in plaintext in \S+config \(profile ci\) \(and 1 of keyrole's backups of them\)/m, d.stdout);
  });

  test('import removes the secret it stored from the backup and says so; a secret not in the keychain stays and is named; doctor then names only that', async () => {
    // Another backup holds a key keyrole never stored (nothing else has it: it stays).
    const foreign = join(w.home, '.aws', 'config.keyrole-backup-20200101T000000Z');
    writeFileSync(foreign, `[profile old]\naws_access_key_id = AKIAOLDOLDOLDOLDOLD1\naws_secret_access_key = ${OTHER_SECRET}\n`, { mode: 0o600 });
    const r = await w.keyrole(['import', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Removed the imported secret access keys from keyrole's earlier backup \S+config\.keyrole-backup-\d{8}T\d{6}Z\.$/m, r.stdout);
    assert.match(r.stdout, /^Still in plaintext: \S+config\.keyrole-backup-20200101T000000Z holds a secret access key that is not in the keychain; delete it if you do not need it\.$/m);
    for (const b of backups()) {
      const text = readFileSync(b, 'utf8');
      assert.ok(!text.includes(DEMO_SECRET_ACCESS_KEY), `${b} still holds the imported secret`);
      assert.equal(statSync(b).mode & 0o777, 0o600);
      if (b !== foreign) assert.ok(text.includes(`aws_access_key_id = ${DEMO_ACCESS_KEY_ID}`), 'the rest of the backup is kept');
    }
    assert.ok(readFileSync(foreign, 'utf8').includes(OTHER_SECRET));
    const d = await w.keyrole(['doctor', 'prod', '--no-network']);
    assert.match(d.stdout, /^problem +plaintext keys +keyrole's backup \S+config\.keyrole-backup-20200101T000000Z still holds a long-term secret access key in plaintext \(\[profile\.old\]\)/m, d.stdout);
  });
});
