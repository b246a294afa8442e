// doctor's report for a person: one line per check, the fix under each problem, colours
// only on a terminal that wants them.

import type { Check, Status } from './check.ts';

const COLOURS: Record<Status, string> = { ok: '32', warning: '33', problem: '31', skipped: '2' };

export function useColour(stream: { isTTY?: boolean }): boolean {
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0') return true;
  return !!stream.isTTY && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
}

export function render(checks: Check[], header: string, colour: boolean): string {
  const paint = (st: Status, text: string) => (colour ? `\x1b[${COLOURS[st]}m${text}\x1b[0m` : text);
  const nameWidth = Math.max(...checks.map((c) => c.name.length));
  const lines = [header];
  for (const c of checks) {
    lines.push(`${paint(c.status, c.status.padEnd(8))} ${c.name.padEnd(nameWidth)}  ${c.message}`);
    if (c.fix && c.status !== 'ok') lines.push(`${' '.repeat(9 + nameWidth + 2)}${colour ? '\x1b[1mfix:\x1b[0m' : 'fix:'} ${c.fix}`);
  }
  const problems = checks.filter((c) => c.status === 'problem').length;
  const warnings = checks.filter((c) => c.status === 'warning').length;
  lines.push(problems || warnings
    ? `${problems} problem${problems === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}.`
    : 'No problems found.');
  return `${lines.join('\n')}\n`;
}
