import { setTimeout as sleep } from 'node:timers/promises';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { validator } from 'hono/validator';
import type { AppEnv } from '../auth.js';
import type { RouteDeps } from './deps.js';
import { ApiError, badRequest } from '../apiErrors.js';
import { apiValidators, parseOr } from '../apiInput.js';
import { apiRoutes, lastEventIdHeader, subPath } from '../apiRoutes.js';
import { logLineJson } from '../jobJson.js';
import { ifNoneMatchHits, LogPageCache } from '../logPageCache.js';
import { getJob } from '../../db/jobs.js';
import { listLogLines, logPageJson } from '../../db/logs.js';
import type { JobRow } from '../../db/schema.js';
import { allowedActions, FINAL_STATUSES, type JobStatus } from '../../domain/lifecycle.js';

/** A job's log through the API: pages (settled ones cached, with ETags) and a live stream (SSE, resumable). */

export const SSE = {
  pollMs: 250,
  heartbeatMs: 15_000,
  batch: 1000,
  retryMs: 2000,
};

/**
 * Whether nothing more will happen to the job, so no log line is coming: a log
 * stream ends there. A succeeded job (or a failed one with resources) can still
 * be destroyed, and its destroy output should reach an open job page live.
 */
function isFinal(job: JobRow): boolean {
  return (FINAL_STATUSES as readonly string[]).includes(job.status) || (job.status === 'failed' && job.has_resources !== 1);
}

/**
 * Settled log pages kept in memory per web process (see logPageCache.ts); a
 * few dozen 1,000-line pages, a small part of the web's memory.
 */
const LOG_PAGE_CACHE_BYTES = 16 * 1024 * 1024;
/**
 * A settled page never changes, so browsers may keep it; after an hour they
 * ask again with If-None-Match and get a 304. Private: it needs credentials.
 */
const SETTLED_LOG_PAGE_CACHE_CONTROL = 'private, max-age=3600';

export function apiLogsApp(deps: RouteDeps) {
  const { db } = deps;
  const R = apiRoutes(deps.specSchema, deps.changeSchema);
  const { idParam, query } = apiValidators(R);
  const logPages = new LogPageCache({ maxBytes: LOG_PAGE_CACHE_BYTES });
  const requireJob = async (id: string): Promise<JobRow> => {
    const job = await getJob(db, id);
    if (!job) throw new ApiError('not_found', `job ${id} not found`);
    return job;
  };
  const app = new Hono<AppEnv>();
  app.on(R.getJobLogs.method, subPath(R.getJobLogs), idParam, query(R.getJobLogs.query), async (c) => {
    const { id } = c.req.valid('param');
    const { after, limit } = c.req.valid('query');
    const key = LogPageCache.key(id, after, limit);
    // A settled page is a fact for good (jobs and their lines are never deleted): no database read.
    let settled = logPages.get(key);
    if (!settled) {
      // Status first, lines second: a job final before the read has stored its last line.
      const job = await requireJob(id);
      const page = await logPageJson(db, job.id, { afterSeq: after, limit });
      const json =
        `{"jobId":${JSON.stringify(job.id)},"lines":${page.linesJson},` +
        `"nextAfter":${page.lastSeq ?? after},"hasMore":${page.hasMore}}`;
      // Full with more after it, or nothing more to come: these bytes never change.
      if (!((page.count === limit && page.hasMore) || isFinal(job))) {
        return c.body(json, 200, { 'Content-Type': 'application/json' });
      }
      settled = logPages.put(key, json);
    }
    c.header('ETag', settled.etag);
    c.header('Cache-Control', SETTLED_LOG_PAGE_CACHE_CONTROL);
    if (ifNoneMatchHits(c.req.header('if-none-match'), settled.etag)) return c.body(null, 304);
    return c.body(settled.body, 200, { 'Content-Type': 'application/json' });
  });

  app.on(
    R.streamJobLogs.method,
    subPath(R.streamJobLogs),
    idParam,
    query(R.streamJobLogs.query),
    validator('header', (h) =>
      h['last-event-id'] === undefined
        ? { lastEventId: undefined }
        : { lastEventId: parseOr(lastEventIdHeader, h['last-event-id'], (e) => badRequest(e, 'Last-Event-ID header')) },
    ),
    async (c) => {
      const job = await requireJob(c.req.valid('param').id);
      let after = c.req.valid('header').lastEventId ?? c.req.valid('query').after ?? 0;
      return streamSSE(c, async (stream) => {
        const stop = new AbortController();
        stream.onAbort(() => stop.abort());
        c.req.raw.signal.addEventListener('abort', () => stop.abort(), { once: true });
        let lastState = '';
        let lastWrite = Date.now();
        let first = true;
        try {
          while (!stop.signal.aborted) {
            // Status first, lines second: a job final before the read has stored its last line.
            const current = await getJob(db, job.id);
            if (!current) break;
            const state = `${current.status}|${current.step ?? ''}`;
            if (state !== lastState) {
              lastState = state;
              await stream.writeSSE({
                event: 'status',
                data: JSON.stringify({
                  status: current.status,
                  step: current.step,
                  actions: allowedActions(current.status as JobStatus, { hasResources: current.has_resources === 1 }),
                }),
                ...(first ? { retry: SSE.retryMs } : {}),
              });
              first = false;
              lastWrite = Date.now();
            }
            const lines = await listLogLines(db, job.id, { afterSeq: after, limit: SSE.batch });
            if (lines.length > 0) {
              // One write per batch; JSON.stringify leaves no raw newline to split a data field.
              await stream.write(lines.map((l) => `id: ${l.seq}\ndata: ${JSON.stringify(logLineJson(l))}\n\n`).join(''));
              after = lines[lines.length - 1].seq;
              lastWrite = Date.now();
              if (lines.length === SSE.batch) continue;
            }
            if (isFinal(current)) {
              await stream.writeSSE({ event: 'end', data: JSON.stringify({ status: current.status, lastSeq: after }) });
              break;
            }
            if (Date.now() - lastWrite >= SSE.heartbeatMs) {
              await stream.write(': heartbeat\n\n');
              lastWrite = Date.now();
            }
            await sleep(SSE.pollMs, undefined, { signal: stop.signal }).catch(() => undefined);
          }
        } catch (err) {
          console.error(`[api] log stream of job ${job.id} failed:`, err);
          await stream.writeSSE({
            event: 'error',
            data: JSON.stringify({ message: 'the log stream failed; reconnect to resume' }),
          });
        }
      });
    },
  );
  return app;
}
