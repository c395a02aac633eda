/** The benchmark's result table: one row per figure, with its target and whether it is met. */

export interface Row {
  workload: string;
  figure: string;
  value: string;
  /** Empty when the figure is reported without a target. */
  target: string;
  /** null: no target, or the figure could not be measured. */
  met: boolean | null;
}

export function row(workload: string, figure: string, value: string, target = '', met: boolean | null = null): Row {
  return { workload, figure, value, target, met };
}

/** A workload that could not finish still gets a row, so the table says what is missing and why. */
export function failedRow(workload: string, err: unknown): Row {
  const message = (err as Error)?.message ?? String(err);
  return row(workload, 'FAILED to run', message.split('\n')[0].slice(0, 160), '', false);
}

const metText = (met: boolean | null) => (met === null ? '' : met ? 'yes' : 'NO');

export function textTable(rows: readonly Row[]): string {
  const header = ['workload', 'figure', 'value', 'target', 'met'];
  const cells = rows.map((r) => [r.workload, r.figure, r.value, r.target, metText(r.met)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => v.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  let last = '';
  for (const c of cells) {
    if (c[0] === last) c[0] = '';
    else last = c[0];
    out.push(line(c));
  }
  return out.join('\n');
}

export function markdownTable(rows: readonly Row[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const out = ['| workload | figure | value | target | met |', '| --- | --- | --- | --- | --- |'];
  let last = '';
  for (const r of rows) {
    const w = r.workload === last ? '' : r.workload;
    last = r.workload;
    out.push(`| ${esc(w)} | ${esc(r.figure)} | ${esc(r.value)} | ${esc(r.target)} | ${metText(r.met)} |`);
  }
  return out.join('\n');
}
