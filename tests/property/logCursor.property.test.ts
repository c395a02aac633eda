import fs from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { createApp } from '../../src/api/app.js';
import { updateJob } from '../../src/db/jobs.js';
import { appendLogLines, type LogLineInput } from '../../src/db/logs.js';
import { appOverDb } from '../support/appOverDb.js';
import { createTempDb, tempDir } from '../support/tempDb.js';
import { newJobRow } from '../support/jobRows.js';

/**
 * GET /api/jobs/{id}/logs?after=N&limit=M as a client pages through it:
 * starting at 0 and following nextAfter while hasMore says so, every stored
 * line arrives exactly once and in order, whatever the page size and however
 * lines are appended (or a batch delivered again) between pages. Settled
 * pages are served from memory, so a page read while the job ran must still
 * fit the pages read after it.
 */

const AUTH = { authorization: 'Bearer prop-logs-tok' };

interface Page {
  lines: { seq: number; line: string }[];
  nextAfter: number;
  hasMore: boolean;
}

const lineText = fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), fc.constantFrom('', ' ', '{"json":1}', '\\', '"'));
const batch = fc.array(lineText, { maxLength: 6 });
/** Between two pages: new lines, or the last batch delivered again (a retried flush), which must add nothing. */
type Delivery = { redeliver: boolean; lines: string[] };
const delivery: fc.Arbitrary<Delivery> = fc.oneof(
  { weight: 3, arbitrary: batch.map((lines) => ({ redeliver: false, lines })) },
  { weight: 1, arbitrary: fc.constant<Delivery>({ redeliver: true, lines: [] }) },
);

describe('log page cursor (property)', () => {
  let t: Awaited<ReturnType<typeof createTempDb>>;
  let app: ReturnType<typeof createApp>;
  let closeTemporal: () => Promise<void>;
  const dataDir = tempDir('prov-prop-logs-');

  beforeAll(async () => {
    t = await createTempDb();
    ({ app, close: closeTemporal } = appOverDb(t.db, {
      SECRET_KEY: 'prop-logs-secret-key-0123456789abcdef',
      API_TOKENS: 'prop-logs-tok',
      DATA_DIR: dataDir,
    }));
  });

  afterAll(async () => {
    await closeTemporal?.();
    await t?.cleanup();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function page(jobId: string, after: number, limit: number): Promise<Page> {
    const res = await app.request(`/api/jobs/${jobId}/logs?after=${after}&limit=${limit}`, { headers: AUTH });
    expect(res.status).toBe(200);
    return res.json() as Promise<Page>;
  }

  /** Stores lines as one step attempt would, numbered after those already there. */
  function appender(jobId: string) {
    let lineNo = 0;
    let last: LogLineInput[] = [];
    const stored: string[] = [];
    return {
      stored,
      async deliver({ redeliver, lines }: Delivery) {
        if (!redeliver) {
          last = lines.map((line) => {
            lineNo += 1;
            const stream = lineNo % 2 ? 'stdout' : 'stderr';
            return { step: 'apply', attempt: 1, stream, lineNo, line, ts: '2030-01-01T00:00:00.000Z' };
          });
          stored.push(...lines);
        }
        await appendLogLines(t.db, jobId, last);
      },
    };
  }

  /** Follows nextAfter from 0 until hasMore is false and nothing is left to append; checks each page on the way. */
  async function follow(jobId: string, limit: number, stored: string[], between: (() => Promise<void>)[] = []) {
    const seen: { seq: number; line: string }[] = [];
    let after = 0;
    for (let guard = 0; guard < 500; guard++) {
      const storedNow = stored.length;
      const p = await page(jobId, after, limit);
      expect(p.lines.length).toBeLessThanOrEqual(limit);
      expect(p.nextAfter).toBe(p.lines.length ? p.lines[p.lines.length - 1].seq : after);
      // Nothing is written while a page is read, so "more" means exactly: lines past this page.
      expect(p.hasMore).toBe(seen.length + p.lines.length < storedNow);
      seen.push(...p.lines.map(({ seq, line }) => ({ seq, line })));
      after = p.nextAfter;
      const next = between.shift();
      if (next) await next();
      else if (!p.hasMore) break;
    }
    return seen;
  }

  it('visits every line exactly once, in order, whatever the page size, with lines appended between pages', async () => {
    await fc.assert(
      fc.asyncProperty(
        batch,
        fc.integer({ min: 1, max: 8 }),
        fc.array(delivery, { maxLength: 6 }),
        async (first, limit, later) => {
          const jobId = await newJobRow(t.db, { prefix: 'jprop' });
          const log = appender(jobId);
          await log.deliver({ redeliver: false, lines: first });
          const seen = await follow(
            jobId,
            limit,
            log.stored,
            later.map((d) => () => log.deliver(d)),
          );
          expect(seen).toEqual(log.stored.map((line, i) => ({ seq: i + 1, line })));

          // Once the job is over its pages are settled and kept in memory; reading them all again, cached or
          // not, and the ones kept while it ran, still gives each line once.
          await updateJob(t.db, jobId, { status: 'destroyed' });
          for (let round = 0; round < 2; round++) {
            expect(await follow(jobId, limit, log.stored)).toEqual(seen);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
