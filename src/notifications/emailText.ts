import type { EmailBlock, EmailModel, KeyValue } from './emailModel.js';

/** The plain-text part of an email: the same model as the HTML part, as indented text. */

function keyValues(rows: KeyValue[]): string[] {
  const shown = rows.filter(([, v]) => v !== null && v !== undefined && v !== '') as [string, string][];
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `  ${`${k}:`.padEnd(width + 1)} ${v}`);
}

function blockLines(block: EmailBlock): string[] {
  switch (block.kind) {
    case 'paragraph':
      return [`  ${block.text}`];
    case 'host':
      return [
        `  Host (${block.host.kind}): ${block.host.name}`,
        ...(block.host.kind === 'private IP' ? ['  The instance has no public address; use it from inside the VPC.'] : []),
      ];
    case 'keyValues':
      return keyValues(block.rows);
    case 'log':
      return block.lines.map((l) => `  | ${l}`);
    case 'ports':
      return block.ports.map((p) => `  - ${p.label}${p.url ? `  ${p.url}` : ''}${p.note ? ` (${p.note})` : ''}`);
  }
}

export function emailText(m: EmailModel): string {
  const details = m.sections.flatMap((s, i) => [...(i ? [''] : []), s.title, ...s.blocks.flatMap(blockLines)]);
  return [
    m.heading,
    '',
    `Job "${m.jobName}" (${m.jobId}): ${m.statusText}`,
    m.intro,
    ...(details.length ? ['', ...details] : []),
    '',
    `${m.linkLabel}: ${m.jobUrl}`,
    '',
    '--',
    `You receive this because you requested this environment (${m.requesterEmail}).`,
    '',
  ].join('\n');
}
