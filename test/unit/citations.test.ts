// Comments that cite a file cite one that exists: a module renamed, split or removed leaves
// a citation of it behind, and a reader follows it to nothing (the review of issue 24 found
// two modules cited by line number, after both had changed).
// Line numbers rot with every edit, so a comment names a function instead; and a comment
// that names a function beside its file, `(src/x/y.ts, name)`, names one that is there.
//
// What counts as a citation: in a comment (a line or block comment, or a shell comment), a
// word ending in .ts, .mjs or .md, with or without a directory. A path with a directory is
// looked up from the repository root, src/, and the citing file's directory and its
// parents (modules cite each other both ways); a bare name must exist somewhere in the
// repository. Placeholders (`<name>.ts`, `*.md`) and packages' files (`@scope/…`) are not
// citations. This file is not
// scanned: its own checks quote citations, good and bad, in its code.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const SKIP = new Set(['node_modules', '.git', 'dist']);

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

const EVERY_NAME = new Set(walk(ROOT).map((p) => basename(p)));
const SOURCES = ['src', 'emulator', 'scripts', 'test'].flatMap((d) => walk(join(ROOT, d)))
  .filter((p) => /\.(ts|mjs|cjs|js|sh)$/.test(p) && p !== import.meta.filename);

/** The comment text of a line, or undefined: a line comment, a block comment's line, a shell comment. */
export function commentOf(line: string, shell: boolean): string | undefined {
  const m = (shell ? /(?:^\s*#|\s#\s)(.*)$/ : /(?:^\s*(?:\/\/|\/\*+|\*)|\s\/\/\s|\/\*)(.*)$/).exec(line);
  return m?.[1];
}

export interface Citation { path: string; line?: string; name?: string }

// A line number: `x.ts:96`, `x.ts, line 96`, `x.ts 96` (not `x.ts: 5 s`, a time).
const LINE = /(?::(\d+)\b|`?,? line (\d+)\b|`?\s(\d+)(?![\w.%]|\s*(?:s|ms|min|minutes|seconds|bytes|[KM]B)\b))/.source;
const CITE = new RegExp(`(?<![\\w./@:<*-])((?:\\.{1,2}/)?(?!@|node_modules/)[\\w@.-]+(?:/[\\w@.-]+)*\\.(?:ts|mjs|md))(?![\\w>*])(?:${LINE}|,\\s+([A-Za-z_$][\\w$]*)\\))?`, 'g');

/** The files a comment cites, each with a line number or a function name when it gives one. */
export function citations(comment: string): Citation[] {
  return [...comment.matchAll(CITE)].map((m) => ({ path: m[1], line: m[2] ?? m[3] ?? m[4], name: m[5] }));
}

/** Where a cited path can be, from the citing file. */
function candidates(from: string, path: string): string[] {
  const out = [join(ROOT, path), join(ROOT, 'src', path)];
  for (let d = dirname(from); d.startsWith(ROOT); d = dirname(d)) out.push(join(d, path));
  return out;
}

export function problems(): { out: string[]; checked: number; named: number } {
  const out: string[] = [];
  let checked = 0;
  let named = 0;
  for (const file of SOURCES) {
    const shell = file.endsWith('.sh');
    readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      const comment = commentOf(line, shell);
      if (comment === undefined) return;
      const where = `${relative(ROOT, file)}:${i + 1}`;
      for (const c of citations(comment)) {
        checked++;
        if (c.name) named++;
        const found = c.path.includes('/') ? candidates(file, c.path).find((p) => existsSync(p)) : EVERY_NAME.has(c.path) ? c.path : undefined;
        if (!found) out.push(`${where} cites ${c.path}, which is not in the repository`);
        else if (c.line) out.push(`${where} cites ${c.path} by line number (${c.line}); name the function instead`);
        else if (c.name && c.path.includes('/') && !readFileSync(found, 'utf8').includes(c.name)) out.push(`${where} cites ${c.name} in ${c.path}, which does not have it`);
      }
    });
  }
  return { out, checked, named };
}

test('citations: what counts', () => {
  assert.deepEqual(citations('see src/credentials/windows.ts, then cache.ts'), [
    { path: 'src/credentials/windows.ts', line: undefined, name: undefined }, { path: 'cache.ts', line: undefined, name: undefined },
  ]);
  assert.deepEqual(citations('(src/credentials/windows.ts, servedAsIs)'), [{ path: 'src/credentials/windows.ts', line: undefined, name: 'servedAsIs' }]);
  assert.deepEqual(citations('`endpoint.ts` 2 and sts.ts 96, cache.ts:147, status.ts line 105').map((c) => [c.path, c.line]),
    [['endpoint.ts', '2'], ['sts.ts', '96'], ['cache.ts', '147'], ['status.ts', '105']]);
  assert.deepEqual(citations('(src/keychain/secretservice.ts: 5 s per call), a.ts 30 ms').map((c) => c.line), [undefined, undefined]);
  assert.deepEqual(citations('`<name>.ts`, *.md, https://example.com/a/b.md, @aws-sdk/x.ts is a package').map((c) => c.path), []);
  assert.equal(commentOf('const a = 1; // see x.ts', false)?.trim(), 'see x.ts');
  assert.equal(commentOf(' * see x.ts', false)?.trim(), 'see x.ts');
  assert.equal(commentOf("const url = 'http://x/y.ts';", false), undefined);
});

test('every file a comment cites exists, by name not by line, with the function it names', () => {
  assert.ok(SOURCES.length > 100, `found only ${SOURCES.length} source files under ${ROOT}`);
  const { out, checked, named } = problems();
  assert.deepEqual(out, []);
  // The scan itself works: the code cites files some 300 times, a few with a function beside them.
  assert.ok(checked > 200 && named > 2, `only ${checked} citations (${named} naming a function) found`);
});
