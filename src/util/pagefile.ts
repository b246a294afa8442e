// A web page opened in the browser without its URL on anyone's argv: another local user
// reads any process's arguments (/proc/<pid>/cmdline), so a URL that carries a secret (the
// console's sign-in token) or lets a reader act in the user's place (IAM Identity Center's
// /authorize with its `state` and the loopback port: a reader could abort the sign-in or
// complete it with an approval of their own) goes into a 0600 page in keyrole's private
// 0700 directory, and the browser is given the page's path. The page forwards to the URL.
//
// The browser may read the page any time after its opener returns, so it is not removed at
// once: each run removes the pages of its kind older than their lapse, and the page of a run
// whose browser could not be opened.

import { randomBytes } from 'node:crypto';
import { readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeAtomic } from './atomic.ts';
import { keyroleHome, privateDir } from './home.ts';
import { debug } from './debug.ts';
import { openBrowser } from './browser.ts';

/**
 * The page that forwards to `url`. It replaces itself in the history (the Back button must
 * not replay a used token) and sends no Referer.
 */
export function redirectPage(url: string, title = 'Signing in to the AWS console'): string {
  const attr = url.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  const js = JSON.stringify(url).replace(/</g, '\\u003c');
  const text = title.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url=${attr}">
<title>${text}</title></head>
<body><p>${text}… <a href="${attr}" rel="noreferrer">continue</a></p>
<script>location.replace(${js});</script>
</body></html>
`;
}

export interface PageKind {
  /** The folder under keyrole's private directory (console, login). */
  dir: string;
  /** After this long a page of this kind is of no use (its token or sign-in has lapsed) and is removed. */
  lapseMs: number;
  title: string;
}

const PAGE = /^signin-[0-9a-f]{24}\.html$/;

/** Writes the page (0600, atomically, under a random name) into the kind's private folder, after removing lapsed ones. */
export function writePage(url: string, kind: PageKind): string {
  const dir = privateDir(join(privateDir(keyroleHome()), kind.dir));
  const lapsed = Date.now() - kind.lapseMs;
  for (const name of readdirSync(dir)) {
    if (!PAGE.test(name)) continue;
    try {
      if (statSync(join(dir, name)).mtimeMs < lapsed) unlinkSync(join(dir, name));
    } catch { /* gone already, or another keyrole's to remove */ }
  }
  const path = join(dir, `signin-${randomBytes(12).toString('hex')}.html`);
  writeAtomic(path, redirectPage(url, kind.title));
  debug(`wrote the page ${path}`);
  return path;
}

/** Opens `url` through a page file; false (and no page left behind) when no browser could be opened. */
export async function openPrivately(url: string, kind: PageKind): Promise<boolean> {
  const page = writePage(url, kind);
  if (await openBrowser({ file: page })) return true;
  try { unlinkSync(page); } catch { /* already gone */ }
  return false;
}
