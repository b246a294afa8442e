// parseCommand skips node:util's parseArgs when argv holds no option (the hot path of every
// cache hit); its answer must be the one parseArgs would have given.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { parseCommand } from '../../src/commands/args.ts';

const OPTIONS = { cache: { type: 'string' }, force: { type: 'boolean' } } as const;

test('argv without options: the same positionals and values as parseArgs', () => {
  const word = fc.string({ maxLength: 12 }).filter((s) => !s.startsWith('-'));
  fc.assert(fc.property(fc.array(word, { maxLength: 4 }), (argv) => {
    const fast = parseCommand('process', argv, OPTIONS);
    const slow = parseArgs({ args: argv, options: { debug: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, ...OPTIONS }, allowPositionals: true, strict: true });
    assert.deepEqual(fast.positionals, slow.positionals);
    assert.deepEqual({ ...fast.values }, { ...slow.values });
  }));
});

test('argv with options still goes through parseArgs: values, and unknown options refused', () => {
  const r = parseCommand('process', ['prod', '--cache', 'file'], OPTIONS);
  assert.deepEqual(r.positionals, ['prod']);
  assert.equal(r.values.cache, 'file');
  assert.throws(() => parseCommand('process', ['prod', '--nope'], OPTIONS), (e: Error & { line(): string }) => e.line() === 'keyrole: unknown option --nope; see keyrole process --help');
  assert.deepEqual(parseCommand('process', ['--', '-x'], OPTIONS).positionals, ['-x']);
});

test('regression: parse errors are one keyrole line, not node:util\'s text with its unbalanced quote', () => {
  const line = (argv: string[]) => { try { parseCommand('process', argv, OPTIONS); return ''; } catch (e) { return (e as { line(): string }).line(); } };
  assert.equal(line(['prod', '--bogus=1']), 'keyrole: unknown option --bogus; see keyrole process --help');
  assert.equal(line(['prod', '-z']), 'keyrole: unknown option -z; see keyrole process --help');
  assert.equal(line(['prod', '--cache']), 'keyrole: option --cache needs a value; see keyrole process --help');
  assert.equal(line(['prod', '--debug=yes']), 'keyrole: option --debug takes no value; see keyrole process --help');
  assert.equal(line(['prod', '--bad\x1b[31m']), 'keyrole: unknown option --bad; see keyrole process --help', 'no escape sequence reaches the terminal');
});
