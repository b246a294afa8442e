// The commands' help against the code it describes (issue 28: console --help said Windows
// opens the browser with `start`, completion --help left out two --list kinds, and setup and
// remove did not say that without a terminal --force is the only way).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS } from '../../src/commands/index.ts';
import { windowsOpener } from '../../src/util/platform.ts';
import { ROOT } from '../../scripts/module-map.ts';

const help = (name: string) => COMMANDS.find((c) => c.name === name)!.help;

test('regression: console --help names the Windows opener the code runs, not start', () => {
  const [cmd, args] = windowsOpener('https://example.com/');
  assert.ok(help('console').includes(`${cmd.replace(/\.exe$/, '')} ${args[0]}`), help('console'));
  assert.doesNotMatch(help('console'), /\bstart\b/);
});

test('regression: completion --help names every --list kind completion accepts', () => {
  const kinds = [...readFileSync(join(ROOT, 'src', 'commands', 'completion.ts'), 'utf8').matchAll(/what === '(\w+)'/g)].map((m) => m[1]);
  assert.ok(kinds.length >= 5, kinds.join(','));
  const listed = /--list ([\w|]+)/.exec(help('completion'))![1].split('|');
  assert.deepEqual([...listed].sort(), [...kinds].sort());
});

test('setup and remove --help say that without a terminal --force is required', () => {
  for (const c of ['setup', 'remove']) assert.match(help(c).replace(/\s+/g, ' '), /without a terminal[^.]*--force/, c);
});
