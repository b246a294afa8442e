// Python's shlex.split (POSIX mode, no comments): how botocore turns a credential_process
// line into argv before running it WITHOUT a shell. So no ~, $VAR, globs, pipes or
// redirections: they reach the program as literal text.

export class ShlexError extends Error {}

export function shlexSplit(s: string): string[] {
  const out: string[] = [];
  let token = '';
  let inToken = false;
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      if (inToken) out.push(token);
      token = '';
      inToken = false;
      i++;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new ShlexError('No closing quotation');
      token += s.slice(i + 1, end);
      inToken = true;
      i = end + 1;
    } else if (c === '"') {
      inToken = true;
      i++;
      for (;;) {
        if (i >= s.length) throw new ShlexError('No closing quotation');
        const d = s[i];
        if (d === '"') { i++; break; }
        // Inside double quotes a backslash escapes only " and \ (shlex's escapedquotes).
        if (d === '\\' && i + 1 < s.length && (s[i + 1] === '"' || s[i + 1] === '\\')) { token += s[i + 1]; i += 2; continue; }
        token += d;
        i++;
      }
    } else if (c === '\\') {
      if (i + 1 >= s.length) throw new ShlexError('No escaped character');
      token += s[i + 1];
      inToken = true;
      i += 2;
    } else {
      token += c;
      inToken = true;
      i++;
    }
  }
  if (inToken) out.push(token);
  return out;
}

/** Quotes a word so shlexSplit (and a POSIX shell) read it back unchanged. */
export function shlexQuote(word: string): string {
  if (word !== '' && /^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'"'"'`)}'`;
}
