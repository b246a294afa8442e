// fileStore(): the 0600-file cache under KEYROLE_HOME, against a real temp directory.

import { test, describe, before, after, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import fsDefault, { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { cacheKey, encodeEntry, fileStore, lookup, openStore, type CacheEntry } from '../../src/credentials/cache.ts';
import { keyroleHome, privateDir } from '../../src/util/home.ts';
import { tempDir } from '../support/tmp.ts';
import { rejectsKeyroleError } from '../support/errors.ts';

let root: string;
let home: string;
let savedHome: string | undefined;
let n = 0;

before(() => {
  root = tempDir('unit-cache-');
  savedHome = process.env.KEYROLE_HOME;
});

after(() => {
  if (savedHome === undefined) delete process.env.KEYROLE_HOME;
  else process.env.KEYROLE_HOME = savedHome;
  rmSync(root, { recursive: true, force: true });
});

beforeEach(() => {
  // A fresh KEYROLE_HOME that does not exist yet: the store creates it.
  home = join(root, `home-${++n}`);
  process.env.KEYROLE_HOME = home;
});

afterEach(() => {
  mock.restoreAll();
  syncBuiltinESMExports();
});

const cacheDir = () => join(home, 'cache');
const mode = (p: string) => statSync(p).mode & 0o777;
const K1 = cacheKey({ n: 1 });
const K2 = cacheKey({ n: 2 });

function value(tag: string): string {
  const e: CacheEntry = {
    params: '[]',
    profile: tag,
    source: 'alice',
    credentials: { accessKeyId: 'ASIAEXAMPLEEXAMPLE01', secretAccessKey: 's'.repeat(40), sessionToken: 't'.repeat(300), expiration: new Date(Date.parse('2030-01-01T01:00:00Z')) },
    clockOffsetMs: 0,
    storedAt: new Date(Date.parse('2030-01-01T00:00:00Z')),
  };
  return encodeEntry(e);
}

describe('fileStore basics', () => {
  test('keyroleHome follows KEYROLE_HOME; the store lives in its cache folder', async () => {
    assert.equal(keyroleHome(), home);
    const s = fileStore();
    assert.equal(s.kind, 'file');
    assert.equal(s.where, cacheDir());
    assert.equal(openStore('file').where, cacheDir());
  });

  test('put, get, list, delete', async () => {
    const s = fileStore();
    assert.equal((await s.get(K1)), null);
    assert.deepEqual((await s.list()), []);
    await s.put(K1, value('one'));
    await s.put(K2, value('two'));
    assert.equal((await s.get(K1)), value('one'));
    assert.deepEqual((await s.list()).sort((a, b) => a.key.localeCompare(b.key)), [{ key: K1, value: value('one') }, { key: K2, value: value('two') }].sort((a, b) => a.key.localeCompare(b.key)));
    await s.put(K1, value('one again'));
    assert.equal((await s.get(K1)), value('one again'));
    assert.equal((await s.delete(K1)), true);
    assert.equal((await s.delete(K1)), false);
    assert.equal((await s.get(K1)), null);
    assert.deepEqual((await s.list()).map((x) => x.key), [K2]);
  });

  test('lookup through the file store decodes what was put', async () => {
    const s = fileStore();
    await s.put(K1, value('p'));
    assert.equal((await lookup(s, K1))?.profile, 'p');
    await s.put(K2, 'garbage');
    assert.equal((await lookup(s, K2)), undefined);
  });

  test('a key that is not 40 hex characters is refused (no path tricks)', async () => {
    const s = fileStore();
    for (const bad of ['../../etc/passwd', 'abc', K1.toUpperCase(), `${K1}0`]) {
      await rejectsKeyroleError(() => s.put(bad, 'x'), 'BadCacheKey');
      await rejectsKeyroleError(() => s.get(bad), 'BadCacheKey');
    }
    assert.equal((await s.delete('../x')), false);
  });

  test('list ignores files that are not cache entries', async () => {
    const s = fileStore();
    await s.put(K1, value('a'));
    writeFileSync(join(cacheDir(), 'README'), 'hi');
    writeFileSync(join(cacheDir(), `${K2}.json.bak`), 'x');
    assert.deepEqual((await s.list()).map((x) => x.key), [K1]);
  });
});

describe('fileStore permissions', () => {
  for (const umask of [0, 0o022, 0o277]) {
    test(`files are 0600 and dirs 0700 with umask ${umask.toString(8).padStart(3, '0')}`, async () => {
      const old = process.umask(umask);
      try {
        const s = fileStore();
        await s.put(K1, value('x'));
        assert.equal(mode(home), 0o700);
        assert.equal(mode(cacheDir()), 0o700);
        assert.equal(mode(join(cacheDir(), `${K1}.json`)), 0o600);
        assert.equal((await s.get(K1)), value('x'));
      } finally {
        process.umask(old);
      }
    });
  }

  test('replacing an entry that was 0644 leaves a 0600 file', async () => {
    const s = fileStore();
    await s.put(K1, value('old'));
    chmodSync(join(cacheDir(), `${K1}.json`), 0o644);
    await s.put(K1, value('new'));
    assert.equal(mode(join(cacheDir(), `${K1}.json`)), 0o600);
    assert.equal((await s.get(K1)), value('new'));
  });

  test('an entry readable by others is refused on read (CacheFileExposed), and lookup raises it', async () => {
    const s = fileStore();
    await s.put(K1, value('x'));
    chmodSync(join(cacheDir(), `${K1}.json`), 0o644);
    await rejectsKeyroleError(() => s.get(K1), 'CacheFileExposed');
    await rejectsKeyroleError(() => lookup(s, K1), 'CacheFileExposed');
  });

  test('an existing KEYROLE_HOME that is group-writable is refused (CacheDirWritable)', async () => {
    mkdirSync(home, { mode: 0o700 });
    chmodSync(home, 0o770);
    const s = fileStore();
    const e = await rejectsKeyroleError(() => s.put(K1, 'x'), 'CacheDirWritable');
    assert.match(e.message, /770/);
    await rejectsKeyroleError(() => s.list(), 'CacheDirWritable');
    assert.equal(existsSync(cacheDir()), false, 'nothing created inside it');
  });

  test('a world-writable cache folder is refused (CacheDirWritable), also on reading an entry', async () => {
    const s = fileStore();
    await s.put(K1, value('x'));
    chmodSync(cacheDir(), 0o707);
    await rejectsKeyroleError(() => s.put(K2, 'x'), 'CacheDirWritable');
    await rejectsKeyroleError(() => s.get(K1), 'CacheDirWritable');
    await rejectsKeyroleError(() => lookup(s, K1), 'CacheDirWritable');
  });

  test('a privateDir that is a file is refused (CacheDirUnusable)', async () => {
    mkdirSync(home, { mode: 0o700 });
    writeFileSync(cacheDir(), 'not a dir');
    await rejectsKeyroleError(() => fileStore().put(K1, 'x'), 'CacheDirUnusable');
    await rejectsKeyroleError(() => privateDir(cacheDir()), 'CacheDirUnusable');
  });
});

describe('fileStore symlinks', () => {
  test('a cache folder that is a symlink is refused (CacheDirSymlink) and nothing is written through it', async () => {
    const real = join(root, `real-${n}`);
    mkdirSync(real, { mode: 0o700 });
    mkdirSync(home, { mode: 0o700 });
    symlinkSync(real, cacheDir());
    const s = fileStore();
    await rejectsKeyroleError(() => s.put(K1, value('x')), 'CacheDirSymlink');
    assert.deepEqual(readdirSync(real), []);
    await rejectsKeyroleError(() => s.list(), 'CacheDirSymlink');
    // An entry planted in the link target is not served either.
    writeFileSync(join(real, `${K1}.json`), value('planted'), { mode: 0o600 });
    await rejectsKeyroleError(() => s.get(K1), 'CacheDirSymlink');
    await rejectsKeyroleError(() => lookup(s, K1), 'CacheDirSymlink');
  });

  test('a KEYROLE_HOME that is a symlink is refused (CacheDirSymlink)', async () => {
    const real = join(root, `realhome-${n}`);
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, home);
    await rejectsKeyroleError(() => fileStore().put(K1, value('x')), 'CacheDirSymlink');
    assert.deepEqual(readdirSync(real), []);
  });

  test('a cache FILE that is a symlink is refused on read (CacheFileSymlink)', async () => {
    const s = fileStore();
    (await s.put(K2, value('x'))); // creates the folders
    const target = join(root, `target-${n}.json`);
    writeFileSync(target, value('planted'), { mode: 0o600 });
    symlinkSync(target, join(cacheDir(), `${K1}.json`));
    await rejectsKeyroleError(() => s.get(K1), 'CacheFileSymlink');
    await rejectsKeyroleError(() => lookup(s, K1), 'CacheFileSymlink');
    // list() shows it as an unreadable entry instead of failing or following it.
    assert.deepEqual((await s.list()).find((x) => x.key === K1), { key: K1, value: '' });
  });

  test('a put over a symlinked cache file replaces the link and never writes to its target', async () => {
    const s = fileStore();
    await s.put(K2, value('x'));
    const target = join(root, `victim-${n}`);
    writeFileSync(target, 'precious', { mode: 0o600 });
    symlinkSync(target, join(cacheDir(), `${K1}.json`));
    await s.put(K1, value('new'));
    assert.equal(readFileSync(target, 'utf8'), 'precious');
    assert.ok(lstatSync(join(cacheDir(), `${K1}.json`)).isFile());
    assert.equal((await s.get(K1)), value('new'));
  });
});

describe('fileStore crash safety', () => {
  test('a leftover .tmp file from a crash is not listed and does not break reads or writes', async () => {
    const s = fileStore();
    await s.put(K1, value('good'));
    const leftover = join(cacheDir(), `.${K1}.99999.deadbeef.tmp`);
    writeFileSync(leftover, value('half').slice(0, 20), { mode: 0o600 });
    assert.deepEqual((await s.list()), [{ key: K1, value: value('good') }]);
    assert.equal((await s.get(K1)), value('good'));
    assert.equal((await lookup(s, K1))?.profile, 'good');
    await s.put(K1, value('newer'));
    assert.equal((await s.get(K1)), value('newer'));
    assert.deepEqual((await s.list()).map((x) => x.key), [K1]);
  });

  test('a successful put leaves no temp file behind', async () => {
    const s = fileStore();
    await s.put(K1, value('a'));
    await s.put(K1, value('b'));
    assert.deepEqual(readdirSync(cacheDir()), [`${K1}.json`]);
  });

  // Tests run as root here, where chmod 500 does not stop a write; the disk-full case is
  // simulated instead by making fs.writeFileSync fail with ENOSPC (the real error object shape).
  test('an existing entry survives a put that fails (disk full), and no temp file is left', async () => {
    const s = fileStore();
    await s.put(K1, value('old'));
    mock.method(fsDefault, 'writeFileSync', () => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    });
    syncBuiltinESMExports();
    const e = await rejectsKeyroleError(() => s.put(K1, value('new')), 'CacheWriteFailed');
    assert.match(e.message, /ENOSPC/);
    assert.match(e.fix ?? '', /disk space/);
    mock.restoreAll();
    syncBuiltinESMExports();
    assert.equal((await s.get(K1)), value('old'));
    assert.deepEqual(readdirSync(cacheDir()), [`${K1}.json`]);
  });

  test('an existing entry survives a put whose rename fails, and no temp file is left', async () => {
    const s = fileStore();
    await s.put(K1, value('old'));
    mock.method(fsDefault, 'renameSync', () => {
      throw Object.assign(new Error('EIO: i/o error, rename'), { code: 'EIO', errno: -5, syscall: 'rename' });
    });
    syncBuiltinESMExports();
    await rejectsKeyroleError(() => s.put(K1, value('new')), 'CacheWriteFailed');
    mock.restoreAll();
    syncBuiltinESMExports();
    assert.equal((await s.get(K1)), value('old'));
    assert.deepEqual(readdirSync(cacheDir()), [`${K1}.json`]);
  });
});
