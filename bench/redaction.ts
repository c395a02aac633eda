import { redactLine } from '../src/domain/redact.js';
import { adversarialLines } from '../tests/support/adversarialLines.js';
import { row, type Row } from './lib/report.js';

const W = '6 redaction';

/** Every stored log line and every unencrypted codec payload is redacted: the slowest 1 MB line, against 100 ms. */
export function runRedaction(): Row[] {
  const lines = adversarialLines(1 << 20);
  let worst = { name: '', ms: 0 };
  for (const [name, text] of Object.entries(lines)) {
    redactLine(text.slice(0, 1024)); // warm the patterns up
    const started = performance.now();
    redactLine(text, ['a-known-secret-value']);
    const ms = performance.now() - started;
    if (ms > worst.ms) worst = { name, ms };
  }
  return [
    row(
      W,
      `slowest of ${Object.keys(lines).length} adversarial 1 MB lines (${worst.name})`,
      `${worst.ms.toFixed(1)} ms`,
      '≤ 100 ms',
      worst.ms <= 100,
    ),
  ];
}
