import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { createApp } from '../../src/api/app.js';
import { SSE } from '../../src/api/routes/apiLogs.js';
import { updateJob } from '../../src/db/jobs.js';
import { appendLogLines, type LogLineInput } from '../../src/db/logs.js';
import { appOverDb } from '../support/appOverDb.js';
import { newJobRow } from '../support/jobRows.js';
import { createTempDb, tempDir } from '../support/tempDb.js';

/**
 * Many people watching one job's live log: every viewer receives every line,
 * in order, once; the database is read once per job, not once per viewer
 * (each stream used to poll the job's lines itself); and a viewer further
 * behind than the lines the web keeps in memory still gets every line.
 */

let temp: Awaited<ReturnType<typeof createTempDb>>;
let app: ReturnType<typeof createApp>;
let close: () => Promise<void>;
let server: ServerType;
let base: string;
/** Reads of job_logs the app has made, counted by a plugin on its database handle. */
let lineReads = 0;
const AUTH = { authorization: 'Bearer fanout-tok' };

beforeAll(async () => {
  temp = await createTempDb();
  const counting = temp.db.withPlugin({
    transformQuery: (args) => {
      const node = args.node as { kind: string; from?: { froms: Array<{ table?: { identifier?: { name: string } } }> } };
      if (node.kind === 'SelectQueryNode' && node.from?.froms.some((f) => f.table?.identifier?.name === 'job_logs')) {
        lineReads += 1;
      }
      return args.node;
    },
    transformResult: async (args) => args.result,
  });
  ({ app, close } = appOverDb(counting, {
    SECRET_KEY: 'fanout-test-secret-key-0123456789abcdef',
    API_TOKENS: 'fanout-tok',
    DATA_DIR: tempDir('prov-fanout-'),
    LOG_STREAMS_PER_PRINCIPAL: '100',
  }));
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  (server as http.Server | undefined)?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await close?.();
  await temp?.cleanup();
});

let lineNo = 0;
const lines = (count: number): LogLineInput[] =>
  Array.from({ length: count }, () => {
    lineNo += 1;
    return { step: 'apply', attempt: 1, stream: 'stdout', lineNo, ts: new Date().toISOString(), line: `line ${lineNo}` };
  });

/** The ids of a stream's line events, read until the stream ends; `opened` resolves at its first event. */
function watch(jobId: string, headers: Record<string, string> = {}) {
  let opened!: () => void;
  const first = new Promise<void>((r) => {
    opened = r;
  });
  const done = (async () => {
    const res = await fetch(`${base}/api/jobs/${jobId}/logs/stream`, { headers: { ...AUTH, ...headers } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const ids: number[] = [];
    let buffer = '';
    let ended = false;
    for (;;) {
      const { done: closed, value } = await reader.read();
      if (closed) break;
      opened();
      buffer += decoder.decode(value, { stream: true });
      for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const id = /^id: (\d+)$/m.exec(block);
        if (id) ids.push(Number(id[1]));
        if (/^event: end$/m.test(block)) ended = true;
      }
    }
    return { ids, ended };
  })();
  return { first, done };
}

const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('live logs watched by many', () => {
  it('reach every viewer, every line once and in order, with one reader of the database per job', async () => {
    const jobId = await newJobRow(temp.db, { status: 'running', prefix: 'fanout' });
    const viewers = Array.from({ length: 40 }, () => watch(jobId));
    await Promise.all(viewers.map((v) => v.first));
    const readsBefore = lineReads;
    const started = Date.now();
    for (let burst = 0; burst < 10; burst++) {
      await appendLogLines(temp.db, jobId, lines(30));
      await new Promise((r) => setTimeout(r, 150));
    }
    await updateJob(temp.db, jobId, { status: 'destroyed' });
    const results = await Promise.all(viewers.map((v) => v.done));
    const polls = (Date.now() - started) / SSE.pollMs;
    for (const r of results) {
      expect(r.ended).toBe(true);
      expect(r.ids).toEqual(oneTo(300));
    }
    // One read of new lines per poll of the job (plus slack for timing), where 40 streams polling
    // on their own made 40 reads per poll.
    expect(lineReads - readsBefore).toBeLessThan(polls * 2 + 10);
  });

  it('give a viewer behind what the web keeps every line still, from the database', async () => {
    const saved = SSE.feedLines;
    SSE.feedLines = 10;
    try {
      const jobId = await newJobRow(temp.db, { status: 'running', prefix: 'fanout' });
      const early = watch(jobId);
      await early.first;
      const before = lineNo;
      await appendLogLines(temp.db, jobId, lines(120));
      // The feed has moved on past the first 110 lines; this viewer resumes after the fifth.
      await new Promise((r) => setTimeout(r, 3 * SSE.pollMs));
      const late = watch(jobId, { 'last-event-id': String(5) });
      await late.first;
      await appendLogLines(temp.db, jobId, lines(15));
      await new Promise((r) => setTimeout(r, 2 * SSE.pollMs));
      await updateJob(temp.db, jobId, { status: 'destroyed' });
      const [a, b] = await Promise.all([early.done, late.done]);
      expect(lineNo - before).toBe(135);
      expect(a.ids).toEqual(oneTo(135));
      expect(b.ids).toEqual(oneTo(135).slice(5));
    } finally {
      SSE.feedLines = saved;
    }
  });
});
