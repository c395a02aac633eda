import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogSink } from '../../src/activities/logSink.js';
import { listLogLines } from '../../src/db/logs.js';
import { redactorFor } from '../../src/domain/redact.js';
import { newJobRow } from '../support/jobRows.js';
import { createTempDb } from '../support/tempDb.js';

/**
 * However a step's output arrives (one line at a time, bursts as big as a read
 * of the pipe, pauses shorter or longer than the batching window, flushes in
 * between), LogSink stores the same lines, redacted, in order, once.
 */

const SECRET = 'hunter2-very-secret';
const lineText = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 1, arbitrary: fc.constantFrom(`password=${SECRET}`, `token: ${SECRET}`, 'AKIAABCDEFGHIJKLMNOP', '') },
);
type Pause = 'none' | 'immediate' | 'timer' | 'window' | 'flush';
const burst = fc.record({
  lines: fc.array(lineText, { maxLength: 40 }),
  stream: fc.constantFrom('stdout', 'stderr'),
  pause: fc.constantFrom<Pause>('none', 'immediate', 'timer', 'window', 'flush'),
});

describe('LogSink (property)', () => {
  let t: Awaited<ReturnType<typeof createTempDb>>;
  beforeAll(async () => {
    t = await createTempDb();
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('stores any split of the output into writes and pauses as the same lines, redacted, in order', async () => {
    const redact = redactorFor([SECRET]);
    await fc.assert(
      fc.asyncProperty(fc.array(burst, { maxLength: 12 }), fc.integer({ min: 1, max: 50 }), async (bursts, maxBatchLines) => {
        const jobId = await newJobRow(t.db);
        const sink = new LogSink({
          db: t.db,
          jobId,
          step: 'apply',
          attempt: 1,
          secrets: [SECRET],
          flushIntervalMs: 3,
          maxBatchLines,
        });
        const expected: [string, string][] = [];
        for (const b of bursts) {
          for (const line of b.lines) {
            sink.write(b.stream, line);
            expected.push([b.stream, redact(line)]);
          }
          if (b.pause === 'immediate') await new Promise((r) => setImmediate(r));
          else if (b.pause === 'timer') await new Promise((r) => setTimeout(r, 1));
          else if (b.pause === 'window') await new Promise((r) => setTimeout(r, 5));
          else if (b.pause === 'flush') await sink.flush();
        }
        await sink.close();
        const rows = await listLogLines(t.db, jobId, { limit: 10_000 });
        expect(rows.map((r) => [r.stream, r.line])).toEqual(expected);
        expect(rows.map((r) => r.line_no)).toEqual(rows.map((_, i) => i + 1));
        expect(rows.some((r) => r.line.includes(SECRET))).toBe(false);
      }),
      { numRuns: 60 },
    );
  }, 60_000);
});
