// Debian's headless Chromium as a BROWSER for sign-in tests: a script that records the URL
// it is given, loads it (following the redirects, as a person's browser would), and leaves
// the final page's DOM and its exit code in `dir` (opened, dom, done).

import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './run.ts';
import { requireTool } from './tools.ts';

// keyrole opens a page file that forwards to the sign-in URL (src/util/pagefile.ts); the script follows it with this.
const PAGE_URL = join(ROOT, 'test', 'fixtures', 'page-url.sh');
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The BROWSER script; `dir` receives `opened` (what keyrole gave it: a page file), `url` (the address it forwards to), `dom` (the last page) and `done` (the exit code). */
export function chromiumBrowser(dir: string): string {
  const chromium = requireTool('chromium');
  mkdirSync(dir, { recursive: true });
  const script = join(dir, 'browser.sh');
  writeFileSync(script, `#!/bin/sh
echo "$1" >> "${dir}/opened"
url=$(${PAGE_URL} "$1")
echo "$url" >> "${dir}/url"
HOME="${dir}" "${chromium}" ${CHROMIUM_FLAGS.join(' ')} --user-data-dir="${dir}/profile" --dump-dom "$url" > "${dir}/dom" 2>/dev/null
echo $? > "${dir}/done"
`);
  chmodSync(script, 0o755);
  return script;
}
