// docs/robustness.md is written by the robustness suites, not by hand. Each suite records a
// row per case it tries (the case, what must happen, what the built keyrole did, the test
// that pins it) and ends with a test that compares its section of docs/robustness.md with
// what it observed. `npm run docs` runs the suites in write mode (each leaves its rows in
// .tmp/robustness/<section>.json) and then this script, which rewrites the document.
//
// What is observed is made deterministic before it is recorded (temp paths, ports and
// timings replaced by placeholders), so the document only changes when behaviour does.

import * as fs from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DOC = join(ROOT, 'docs', 'robustness.md');
const ROWS_DIR = join(ROOT, '.tmp', 'robustness');

/** The sections, in document order: id → heading and what the section covers. */
export const SECTIONS: Record<string, { title: string; intro: string }> = {
  config: {
    title: 'Config files',
    intro: 'Hostile or broken `~/.aws/config` contents, run through the built executable (`keyrole process`). Every failure is a non-zero exit, one line on stderr and an empty stdout.',
  },
  keychain: {
    title: 'Keychain payloads',
    intro: 'Entries in the real Secret Service (gnome-keyring) that keyrole did not write, planted with `secret-tool`. A source is reported, never used; a cache entry is ignored and replaced.',
  },
  bus: {
    title: 'A hostile bus',
    intro: 'A fake D-Bus session bus (a Unix socket server in the test) at `DBUS_SESSION_BUS_ADDRESS`, run through the built executable. keyrole\'s own D-Bus client bounds each call at 5 s, reads every byte with bounds checks and refuses a malformed or oversized message; the keychain addon\'s calls are bounded at 30 s by a watchdog thread. Each case ends with a non-zero exit, one line on stderr and an empty stdout.',
  },
  network: {
    title: 'Network and service faults',
    intro: 'Faults injected by the emulator (`POST /_emulator/behaviour`) or a hostile local server on a cache refresh. One STS exchange is bounded: 3 s to connect, 5 s to the response headers and 5 s of silence per attempt, 3 attempts, 12 s in all. After every failure the file cache entry is byte for byte what it was. The `console: …` cases point `keyrole console` at a hostile federation endpoint (`KEYROLE_SIGNIN_URL`): one exchange of at most 12 s and 64 KB, one printable line, no page written.',
  },
  endpoint: {
    title: 'A hostile endpoint',
    intro: 'An endpoint keyrole should not trust: STS behind TLS with a certificate from a CA keyrole was not told about (Node\'s own `NODE_TLS_REJECT_UNAUTHORIZED` and `NODE_EXTRA_CA_CERTS` set, as an attacker who can set the environment would), and the proxies a corporate network puts in the way (a local CONNECT/HTTP proxy that counts what passes), run through the built executable.',
  },
  process: {
    title: 'Process and filesystem faults',
    intro: 'SIGKILL at fixed steps of a refresh (delivered by `strace --inject`, so the step is exact), a full filesystem (a 64 KiB tmpfs), a read-only home (a read-only tmpfs), and two builds of keyrole on one store.',
  },
  server: {
    title: 'A long-lived server',
    intro: '`keyrole serve` (the endpoint of `exec --server` too) running while its parts fail and come back: the real gnome-keyring stopped (SIGSTOP) and continued, a keychain call that never returns (a session bus that goes silent for new connections), a clock that is 20 minutes off and then right again (a shared libfaketime clock), and serve itself killed with SIGKILL. Requests are made as an SDK makes them; the answer is what every client shows.',
  },
  filestore: {
    title: 'The file store',
    intro: 'keyrole\'s age-encrypted file store (no D-Bus session, `KEYROLE_KEYCHAIN=file`), through the built executable: SIGKILL spread over each kind of write (a refresh, creating the store, a move between stores, a passphrase change), unsafe directories and damaged files. After each kill the store opens and nothing stored before is lost; every refusal is a non-zero exit and one line on stderr.',
  },
  users: {
    title: 'Another local user',
    intro: 'A real second account on the machine (`keyrole-other`, created by the suite) moves first: it binds the names keyrole listens on, sends what it likes to whoever connects, and reaches for the files keyrole keeps. Nothing it sends is printed or adopted, and keyrole never waits on it.',
  },
  secrets: {
    title: 'Secrets and injection',
    intro: 'One world drives every command; each stdout, stderr, file under HOME, child environment and child argv is scanned for the long-term secret access key, the session secret and token, and the SSO tokens.',
  },
  fuzz: {
    title: 'Fuzzing',
    intro: 'Property-based fuzzing with fast-check, fixed seeds and a bounded number of runs (and a time bound per property) so CI is deterministic. Counterexamples found are kept as named regression cases in the same file.',
  },
};

/** One line on stderr, nothing on stdout, a non-zero exit, no stack, and a short line. */
export function assertOneLine(r: { code: number | null; stdout: string; stderr: string }, pattern: RegExp): string {
  assert.notEqual(r.code, 0, `expected a failure, got exit ${r.code}: ${r.stdout}`);
  assert.equal(r.stdout, '', 'stdout stays empty on failure');
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr.slice(0, 2000)}`);
  assert.match(lines[0], /^keyrole: /);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.ok(lines[0].length < 600, `the line is ${lines[0].length} characters long`);
  assert.match(lines[0], pattern);
  return lines[0];
}

export interface Row {
  case: string;
  expected: string;
  observed: string;
  test: string;
}

/** Replaces what differs between runs (temp dirs, ports, timings, ids) with placeholders. */
export function normalise(text: string, homes: string[] = []): string {
  let s = text;
  for (const h of homes.filter(Boolean).sort((a, b) => b.length - a.length)) s = s.split(h).join('$HOME');
  return s
    .replace(/\/tmp\/keyrole-run-\d+-[0-9a-f]+\/[\w.-]+/g, '$TMP')
    .replace(/\/tmp\/keyrole-[\w.-]+/g, '$TMP')
    .replace(/(127\.0\.0\.1|localhost):\d+/g, '$1:PORT')
    .replace(/\b\d+(\.\d+)? ?ms\b/g, 'N ms')
    .replace(/\bASIA[A-Z0-9]{16}\b/g, 'ASIA…')
    .replace(/\b[0-9a-f]{16}\b/g, 'KEY')
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, 'UUID')
    .trim();
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ⏎ ');
}

export function renderSection(id: string, rows: Row[]): string {
  const sec = SECTIONS[id];
  if (!sec) throw new Error(`unknown robustness section ${id}`);
  return [
    `<!-- section: ${id} -->`,
    `## ${sec.title}`,
    '',
    sec.intro,
    '',
    '| Case | Expected | Observed | Test |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| ${cell(r.case)} | ${cell(r.expected)} | ${cell(r.observed)} | ${cell(r.test)} |`),
    `<!-- /section: ${id} -->`,
  ].join('\n');
}

const HEADER = `# Robustness

What keyrole does with hostile input and faults: each row is a case the test suite tries
against the built executable (or, for fuzzing, the modules themselves), what must happen,
what was observed on the last run that wrote this file, and the test that pins it.

This file is generated: \`npm run docs\` reruns the suites and rewrites it, and each suite
fails when its section here differs from what it observed. Do not edit it by hand.

Decisions recorded here:

- **Duplicate sections and keys**: read as the SDKs read them (sections merged, the last
  key wins), checked by test/unit/ini-conformance.test.ts. On top of that, in the profile
  keyrole is about to use, a \`keyrole_*\` key set twice, a \`keyrole_*\` key keyrole does
  not know (with the closest known key suggested) and a \`keyrole_*\` line without \`=\` are
  errors. Other keys are the SDK's business and left alone.
- **Size**: a config or credentials file over 5 MB is refused; a device or a pipe is read at
  most that far.
- **Encoding**: bytes that are not UTF-8 are refused with the file and the line (the SDK
  would read them as U+FFFD and the AWS CLI refuses such a file). A UTF-8 byte-order mark
  is read as the JS SDK reads it.
- **Node's own switches**: the single executable (\`dist/keyrole\`) ignores \`NODE_OPTIONS\`
  (built with \`execArgvExtension: "none"\`), has SIGUSR1's inspector switched off
  (\`--disable-sigusr1\`), loads the SDK from its own assets whatever \`NODE_PATH\` says, and
  reruns itself without \`NODE_DEBUG\` (Node's \`net\` debug output prints request headers,
  session tokens included). \`node dist/keyrole.cjs\` (the npm channel) is a Node program like
  any other and honours all of these as Node does: use the executable where that matters.
- **A failed refresh** (src/credentials/cached.ts): when the cached entry is inside the
  refresh window and the refresh fails because AWS cannot be reached or is failing (no
  connection, a timeout, 5xx, throttling, an answer that is not AWS's), keyrole serves that
  entry if it still has more than 6 minutes left (the JS SDK's 5-minute expiry window plus
  a minute; \`--debug\` says so), and the next run tries again. With 6 minutes or less left,
  or when AWS refuses (any 4xx: AccessDenied, ExpiredToken, a wrong secret) or the problem
  is local, the refresh fails with its one line; the entry stays as it was.
`;

function blocks(doc: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /<!-- section: ([\w-]+) -->[\s\S]*?<!-- \/section: \1 -->/g;
  for (let m = re.exec(doc); m; m = re.exec(doc)) out.set(m[1], m[0]);
  return out;
}

/** The whole document: the header, then each section from `fresh` or, when absent, from the current file. */
export function renderDoc(fresh: Map<string, Row[]>, current: string): string {
  const old = blocks(current);
  const parts = [HEADER];
  for (const id of Object.keys(SECTIONS)) {
    const rows = fresh.get(id);
    const block = rows ? renderSection(id, rows) : old.get(id);
    if (block) parts.push(block);
  }
  return `${parts.join('\n')}\n`;
}

/**
 * A suite's recorder. `add` after a case's assertions pass; `docTest()` declares the
 * suite's last test, which compares (or, under KEYROLE_ROBUSTNESS=write, records).
 */
export class Recorder {
  readonly rows: Row[] = [];
  readonly section: string;
  readonly file: string;
  constructor(section: string, file: string) {
    if (!SECTIONS[section]) throw new Error(`unknown robustness section ${section}`);
    this.section = section;
    this.file = file;
  }

  add(testName: string, c: string, expected: string, observed: string): void {
    this.rows.push({ case: c, expected, observed, test: `${this.file}: ${testName}` });
  }

  docTest(expectedRows?: number): void {
    test(`docs/robustness.md section "${this.section}" is what this suite observed`, () => {
      if (expectedRows !== undefined) {
        assert.equal(this.rows.length, expectedRows, `${expectedRows - this.rows.length} case(s) of this suite failed before recording; fix them first`);
      }
      if (process.env.KEYROLE_ROBUSTNESS === 'write') {
        fs.mkdirSync(ROWS_DIR, { recursive: true });
        fs.writeFileSync(join(ROWS_DIR, `${this.section}.json`), JSON.stringify(this.rows, null, 2));
        return;
      }
      const doc = fs.existsSync(DOC) ? fs.readFileSync(DOC, 'utf8') : '';
      const want = renderSection(this.section, this.rows);
      const have = blocks(doc).get(this.section);
      assert.equal(have, want, 'docs/robustness.md is out of date for this section: run `npm run docs` to refresh it');
    });
  }
}

/** `node scripts/robustness-doc.ts`: rewrites docs/robustness.md from .tmp/robustness/*.json. */
function main(): void {
  const fresh = new Map<string, Row[]>();
  for (const id of Object.keys(SECTIONS)) {
    const p = join(ROWS_DIR, `${id}.json`);
    if (fs.existsSync(p)) fresh.set(id, JSON.parse(fs.readFileSync(p, 'utf8')) as Row[]);
  }
  const current = fs.existsSync(DOC) ? fs.readFileSync(DOC, 'utf8') : '';
  const next = renderDoc(fresh, current);
  fs.mkdirSync(dirname(DOC), { recursive: true });
  fs.writeFileSync(DOC, next);
  for (const id of fresh.keys()) fs.rmSync(join(ROWS_DIR, `${id}.json`));
  process.stderr.write(`robustness-doc: wrote ${DOC} (${[...fresh.keys()].join(', ') || 'no new sections'})\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
