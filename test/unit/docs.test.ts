// The documentation against the code it describes: every link between the documents lands
// on a file and a heading that exist, every keyrole_* key the config checker knows and every
// KEYROLE_* variable the sources read is in docs/configuration.md, and the README's two
// commands are npm scripts. A README that is true stays true when a key or a page is added.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { KEYROLE_KEYS } from '../../src/config/checks.ts';
import { ROOT } from '../../scripts/module-map.ts';

const DOCS = ['README.md', 'CONTRIBUTING.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const read = (f: string) => readFileSync(join(ROOT, f), 'utf8');

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading.toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-');
}

function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = !fenced && /^#{1,6} (.*)$/.exec(line);
    if (m) out.add(slug(m[1]));
  }
  return out;
}

test('every relative link in README.md, CONTRIBUTING.md and docs/ lands on a file and a heading that exist', () => {
  const broken: string[] = [];
  for (const doc of DOCS) {
    const text = read(doc).replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const [file, anchor] = target.split('#');
      const path = file ? resolve(ROOT, dirname(doc), file) : join(ROOT, doc);
      if (!existsSync(path)) { broken.push(`${doc}: ${target} (no such file)`); continue; }
      if (anchor && path.endsWith('.md') && !anchors(readFileSync(path, 'utf8')).has(anchor)) broken.push(`${doc}: ${target} (no such heading)`);
    }
  }
  assert.deepEqual(broken, []);
});

test('docs/configuration.md documents every keyrole_* key the config checker knows', () => {
  const doc = read('docs/configuration.md');
  assert.deepEqual(KEYROLE_KEYS.filter((k) => !doc.includes(`\`${k}\``)), []);
});

test('docs/configuration.md documents every KEYROLE_* variable the sources read', () => {
  const doc = read('docs/configuration.md');
  const used = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else for (const [, v] of readFileSync(join(dir, e.name), 'utf8').matchAll(/\b(?:env|e)\.(KEYROLE_[A-Z_]+)/g)) used.add(v);
    }
  };
  walk(join(ROOT, 'src'));
  assert.ok(used.size >= 10, `found ${[...used].join(', ')}`);
  assert.deepEqual([...used].filter((v) => !doc.includes(`\`${v}\``)).sort(), []);
});

test('the README\'s quick-start commands are the package\'s scripts (CI runs npm test)', () => {
  const readme = read('README.md');
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
  for (const s of ['demo', 'test']) {
    assert.match(readme, new RegExp(`^npm (run )?${s} `, 'm'));
    assert.ok(scripts[s], `package.json has no ${s} script`);
  }
});
