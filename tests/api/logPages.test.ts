import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { createApp } from '../../src/api/app.js';
import { logLineJson } from '../../src/api/jobJson.js';
import { LOG_PAGE_MAX_BYTES } from '../../src/api/routes/apiLogs.js';
import { updateJob } from '../../src/db/jobs.js';
import { newJobRow } from '../support/jobRows.js';
import { appendLogLines, listLogLines, type LogLineInput } from '../../src/db/logs.js';
import { appOverDb } from '../support/appOverDb.js';
import { createTempDbOf, dbKinds, tempDir, type TempDb } from '../support/tempDb.js';

/**
 * GET /api/jobs/:id/logs on SQLite and on Postgres (TEST_POSTGRES_URL): the
 * page is the same JSON as lines read row by row, a page that can still
 * change is never served from the cache, and a page that cannot carries an
 * ETag that answers If-None-Match with 304. The route needs no Temporal: the
 * client is created lazily and never connects.
 */

const AUTH = { authorization: 'Bearer logs-tok' };

/** Text a JSON writer must escape, or may get wrong: quotes, backslashes, control characters, non-ASCII. */
const AWKWARD = [
  'plain line',
  'quote " and backslash \\ and slash /',
  'tab\tcarriage\rbell\u0007 escape\u001b[0m',
  'unicode: é ü 日本語 😀 \u2028 \u2029',
  '{"looks":"like json"}',
  '',
];

describe.each(dbKinds())('logs page on %s', (kind) => {
  let t: TempDb;
  let app: ReturnType<typeof createApp>;
  let closeTemporal: () => Promise<void>;

  beforeAll(async () => {
    t = await createTempDbOf(kind);
    ({ app, close: closeTemporal } = appOverDb(t.db, {
      SECRET_KEY: 'logs-test-secret-key-0123456789abcdef',
      API_TOKENS: 'logs-tok',
      DATA_DIR: tempDir('prov-logs-'),
    }));
  }, 60_000);

  afterAll(async () => {
    await closeTemporal?.();
    await t?.cleanup();
  });

  const newJob = (status: string, hasResources = 0) => newJobRow(t.db, { status, hasResources, prefix: 'jlogs' });

  let lineNo = 0;
  async function append(jobId: string, count: number, text = (i: number) => `line ${i}`): Promise<void> {
    const batch: LogLineInput[] = Array.from({ length: count }, (_, i) => {
      lineNo += 1;
      return {
        step: 'apply',
        attempt: 1,
        stream: lineNo % 3 === 0 ? 'stderr' : 'stdout',
        lineNo,
        line: text(i),
        ts: new Date(Date.UTC(2030, 0, 1, 0, 0, 0, lineNo)).toISOString(),
      };
    });
    await appendLogLines(t.db, jobId, batch);
  }

  async function page(jobId: string, query: string, headers: Record<string, string> = {}) {
    const res = await app.request(`/api/jobs/${jobId}/logs${query}`, { headers: { ...AUTH, ...headers } });
    const text = await res.text();
    return { res, text, body: text ? JSON.parse(text) : undefined };
  }

  /** What the page must say, read row by row the way the API always built it. */
  async function expected(jobId: string, after: number, limit: number) {
    const rows = await listLogLines(t.db, jobId, { afterSeq: after, limit: limit + 1 });
    const lines = rows.slice(0, limit);
    return {
      jobId,
      lines: lines.map(logLineJson),
      nextAfter: lines.length ? lines[lines.length - 1].seq : after,
      hasMore: rows.length > limit,
    };
  }

  it('is the same JSON as the lines read row by row, awkward text included', async () => {
    const id = await newJob('running');
    await append(id, AWKWARD.length * 3, (i) => AWKWARD[i % AWKWARD.length]);
    for (const [after, limit] of [
      [0, 1000],
      [0, 5],
      [4, 6],
      [17, 1],
      [18, 10],
      [500, 10],
    ]) {
      const { res, body } = await page(id, `?after=${after}&limit=${limit}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(body).toEqual(await expected(id, after, limit));
      expect(Object.keys(body)).toEqual(['jobId', 'lines', 'nextAfter', 'hasMore']);
      if (body.lines.length) expect(Object.keys(body.lines[0])).toEqual(['seq', 'ts', 'step', 'attempt', 'stream', 'line']);
    }
    // Defaults: after=0, limit=1000.
    expect((await page(id, '')).body).toEqual(await expected(id, 0, 1000));
  });

  it('never serves a page that may still grow from the cache', async () => {
    const id = await newJob('running');
    await append(id, 3);
    const first = await page(id, '?after=0&limit=5');
    expect(first.body.lines).toHaveLength(3);
    expect(first.body.hasMore).toBe(false);
    expect(first.res.headers.get('etag')).toBeNull();
    expect(first.res.headers.get('cache-control')).toBe('no-store');

    // Exactly `limit` lines and nothing after them yet: full, but hasMore may still turn true.
    await append(id, 2);
    const full = await page(id, '?after=0&limit=5');
    expect(full.body.lines).toHaveLength(5);
    expect(full.body.hasMore).toBe(false);
    expect(full.res.headers.get('etag')).toBeNull();

    await append(id, 1);
    const grown = await page(id, '?after=0&limit=5');
    expect(grown.body.hasMore).toBe(true);
    expect(grown.body.nextAfter).toBe(full.body.nextAfter);
    expect(grown.body).toEqual(await expected(id, 0, 5));
    // The tail past it is still growing.
    const tail = await page(id, '?after=5&limit=5');
    expect(tail.body.lines).toHaveLength(1);
    expect(tail.res.headers.get('etag')).toBeNull();
    await append(id, 2);
    expect((await page(id, '?after=5&limit=5')).body.lines).toHaveLength(3);
  });

  it('a full page with lines after it has a strong ETag; If-None-Match gets a 304', async () => {
    const id = await newJob('running');
    await append(id, 12);
    const first = await page(id, '?after=2&limit=4');
    expect(first.body).toEqual(await expected(id, 2, 4));
    expect(first.body.hasMore).toBe(true);
    const etag = first.res.headers.get('etag');
    expect(etag).toMatch(/^"[^"]+"$/);
    expect(first.res.headers.get('cache-control')).toMatch(/^private, max-age=\d+$/);

    // Served again (from memory), byte for byte, even after more lines arrived.
    await append(id, 3);
    const again = await page(id, '?after=2&limit=4');
    expect(again.text).toBe(first.text);
    expect(again.res.headers.get('etag')).toBe(etag);

    for (const header of [etag!, `W/${etag}`, `"other", ${etag}`, '*']) {
      const notModified = await page(id, '?after=2&limit=4', { 'if-none-match': header });
      expect(notModified.res.status, header).toBe(304);
      expect(notModified.text).toBe('');
      expect(notModified.res.headers.get('etag')).toBe(etag);
    }
    // Credentials are still required for a page held in memory.
    expect((await app.request(`/api/jobs/${id}/logs?after=2&limit=4`)).status).toBe(401);
    const stale = await page(id, '?after=2&limit=4', { 'if-none-match': '"something-else"' });
    expect(stale.res.status).toBe(200);
    expect(stale.text).toBe(first.text);

    // Another page of the same job has its own validator.
    const next = await page(id, '?after=6&limit=4');
    expect(next.res.headers.get('etag')).not.toBe(etag);
    expect(next.body).toEqual(await expected(id, 6, 4));
  });

  it('pages of a final job are settled, pages of a job that can still be destroyed are not', async () => {
    const done = await newJob('running');
    await append(done, 3);
    expect((await page(done, '?after=0&limit=10')).res.headers.get('etag')).toBeNull();
    await updateJob(t.db, done, { status: 'destroyed' });
    const settled = await page(done, '?after=0&limit=10');
    expect(settled.body).toEqual(await expected(done, 0, 10));
    expect(settled.res.headers.get('etag')).toMatch(/^"/);
    const past = await page(done, '?after=3&limit=10');
    expect(past.body).toEqual({ jobId: done, lines: [], nextAfter: 3, hasMore: false });
    expect(past.res.headers.get('etag')).toMatch(/^"/);

    // Failed with resources left: a destroy may still write lines.
    const failed = await newJob('failed', 1);
    await append(failed, 2);
    expect((await page(failed, '?after=0&limit=10')).res.headers.get('etag')).toBeNull();
    await append(failed, 1);
    expect((await page(failed, '?after=0&limit=10')).body.lines).toHaveLength(3);
    // Failed with nothing to destroy is final.
    const over = await newJob('failed', 0);
    await append(over, 2);
    expect((await page(over, '?after=0&limit=10')).res.headers.get('etag')).toMatch(/^"/);
  });

  it('bounds a page in bytes as well as lines, and paging still reads every line once, in order', async () => {
    const id = await newJob('running');
    // 300 lines of 16 KB, the longest a line is stored: 4.8 MB if one page took them all.
    const long = (i: number) => `${String(i).padStart(6, '0')}${'x'.repeat(16_378)}`;
    await append(id, 300, long);
    const first = await page(id, '?after=0&limit=5000');
    expect(first.text.length).toBeLessThanOrEqual(LOG_PAGE_MAX_BYTES);
    expect(first.body.lines.length).toBeGreaterThan(1);
    expect(first.body.lines.length).toBeLessThan(300);
    expect(first.body.hasMore).toBe(true);
    // A page cut short by its bytes is as fixed as a full one: the same bytes, with an ETag, again.
    expect(first.res.headers.get('etag')).toBeTruthy();
    let after = 0;
    const seen: string[] = [];
    for (let guard = 0; guard < 20; guard++) {
      const p = await page(id, `?after=${after}&limit=5000`);
      seen.push(...p.body.lines.map((l: { line: string }) => l.line.slice(0, 6)));
      after = p.body.nextAfter;
      if (!p.body.hasMore) break;
    }
    expect(seen).toEqual(Array.from({ length: 300 }, (_, i) => String(i).padStart(6, '0')));
  });

  it('still answers 404 for an unknown job and 400 for a bad query', async () => {
    const unknown = await page('nosuchjob', '?after=0&limit=10');
    expect(unknown.res.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
    const id = await newJob('running');
    const bad = await page(id, '?after=0&limit=0');
    expect(bad.res.status).toBe(400);
    const unauthenticated = await app.request(`/api/jobs/${id}/logs`);
    expect(unauthenticated.status).toBe(401);
  });
});
