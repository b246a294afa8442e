// CONTRIBUTING.md's module map against src/: every module is in it and every module it
// names exists (the hand-written map missed nine). The map is generated from each module's
// opening comment by scripts/module-map.ts; this fails until it is run after a module is
// added, moved or removed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CONTRIBUTING, mappedModules, renderMap, sourceModules } from '../../scripts/module-map.ts';

test('regression: the module map in CONTRIBUTING.md names every module under src/ and no other', () => {
  const mapped = mappedModules(readFileSync(CONTRIBUTING, 'utf8'));
  const modules = sourceModules();
  const fix = 'run node scripts/module-map.ts';
  assert.deepEqual(modules.filter((m) => !mapped.includes(m)), [], `modules missing from the map: ${fix}`);
  assert.deepEqual(mapped.filter((m) => !modules.includes(m)), [], `the map names modules that are gone: ${fix}`);
  assert.equal(new Set(mapped).size, mapped.length, 'each module once');
});

test('every module opens with a comment that says what it is for (the map is made of them)', () => {
  assert.doesNotMatch(renderMap(), /\(no opening comment\)/);
});

test("the README's Development section names every module under src/ and no other", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Development'), readme.indexOf('\n## ', readme.indexOf('## Development') + 1));
  const named = [...section.matchAll(/`([\w/.-]+\.ts)`/g)].map((m) => m[1]);
  const modules = sourceModules();
  assert.deepEqual(modules.filter((m) => !named.includes(m)), [], 'modules missing from the README\'s Development section');
  assert.deepEqual(named.filter((m) => !modules.includes(m)), [], 'the README names modules that are gone');
});
