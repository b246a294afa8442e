// The cross-platform workflow (.github/workflows/cross-platform.yml) cannot run here, so
// the suite checks what it can: the file is a valid GitHub Actions workflow by
// action-validator's schema (a known-bad copy is refused, so the check is alive), and every
// test file and script it names exists.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './support/run.ts';
import { tempDir } from './support/tmp.ts';

const WORKFLOW = join(ROOT, '.github', 'workflows', 'cross-platform.yml');
const VALIDATOR = join(ROOT, 'node_modules', '.bin', 'action-validator');

const validate = (file: string) => spawnSync(VALIDATOR, [file], { encoding: 'utf8' });

test('the cross-platform workflow is valid for GitHub Actions; a broken copy is not', () => {
  const ok = validate(WORKFLOW);
  assert.equal(ok.status, 0, `${ok.stdout}${ok.stderr}`);
  const bad = join(tempDir('workflow-'), 'bad.yml');
  writeFileSync(bad, readFileSync(WORKFLOW, 'utf8').replace('runs-on:', 'runz-on:'));
  assert.notEqual(validate(bad).status, 0, 'action-validator refuses a job without runs-on');
});

test('every test file and script the workflow runs exists', () => {
  const text = readFileSync(WORKFLOW, 'utf8');
  const named = [...text.matchAll(/\b((?:test|scripts)\/[\w./-]+\.(?:ts|mjs|cjs))\b/g)].map((m) => m[1]!);
  assert.ok(named.length >= 5, named.join(' '));
  for (const f of named) assert.ok(existsSync(join(ROOT, f)), `${f} is named in the workflow`);
});
