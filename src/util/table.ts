// Columns aligned for a terminal: `list` and `cache list`. Widths count code points, so
// the "…" of a shortened key id takes one column like the letters around it.

const width = (s: string) => [...s].length;

/** Rows of cells as lines: every column but the last padded to its widest cell, two spaces apart. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, width(c)); });
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i] - width(c)))).join('  ').trimEnd()).join('\n') + (rows.length ? '\n' : '');
}
