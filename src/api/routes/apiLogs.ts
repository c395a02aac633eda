import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { validator } from 'hono/validator';
import type { AppEnv } from '../auth.js';
import type { RouteDeps } from './deps.js';
import { ApiError, badRequest, errorBody } from '../apiErrors.js';
import { apiValidators, parseOr } from '../apiInput.js';
import { apiRoutes, lastEventIdHeader, subPath } from '../apiRoutes.js';
import { ifNoneMatchHits, LogPageCache } from '../logPageCache.js';
import { getJob } from '../../db/jobs.js';
import { listLogLines, logPageJson } from '../../db/logs.js';
import type { JobRow } from '../../db/schema.js';
import { allowedActions, FINAL_STATUSES, type JobStatus } from '../../domain/lifecycle.js';
import { StreamSlots } from '../streamSlots.js';
import { eventBatch, LogFeeds, lineEvent } from '../logFeed.js';

/** A job's log through the API: pages (settled ones cached, with ETags) and a live stream (SSE, resumable). */

export const SSE = {
  pollMs: 250,
  heartbeatMs: 15_000,
  batch: 1000,
  /** One write's lines stop here (past the first): a batch of 16 KB lines would otherwise be 16 MB at once. */
  maxBatchBytes: 1024 * 1024,
  retryMs: 2000,
  /** The newest lines a job's feed keeps for its streams (see logFeed.ts), and at most their bytes. */
  feedLines: 5000,
  feedBytes: 2 * 1024 * 1024,
  /** How long a job must stay settled, with no new line, before its stream ends: the email step's lines come just after the status. */
  settleMs: 2000,
  /** What a caller refused a stream (too many open) is told to wait. */
  retryAfterSeconds: 10,
};

/** A log page's JSON stops growing here (past its first line), whatever its line count. */
export const LOG_PAGE_MAX_BYTES = 2 * 1024 * 1024;

/**
 * Whether nothing more will happen to the job, so no log line is coming: a
 * settled log page may be cached for good there.
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
  // SSE itself: its figures are read at each use (tests lower them).
  const feeds = new LogFeeds(db, SSE);
  const streams = new StreamSlots({
    perPrincipal: deps.config.LOG_STREAMS_PER_PRINCIPAL,
    total: deps.config.LOG_STREAMS_TOTAL,
  });
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
      const page = await logPageJson(db, job.id, { afterSeq: after, limit, maxBytes: LOG_PAGE_MAX_BYTES });
      const json =
        `{"jobId":${JSON.stringify(job.id)},"lines":${page.linesJson},` +
        `"nextAfter":${page.lastSeq ?? after},"hasMore":${page.hasMore}}`;
      // Lines after it (the page stopped at its line or byte bound), or nothing more to come: these bytes never change.
      if (!(page.hasMore || isFinal(job))) {
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
      const slot = streams.acquire(c.get('principal').userId);
      if ('refused' in slot) {
        // Answered, not thrown: a full house is the cap working, not a fault to log with a stack.
        const message = `${slot.refused}; retry later, or read the log in pages meanwhile`;
        return c.json(errorBody('unavailable', message), 503, { 'Retry-After': String(SSE.retryAfterSeconds) });
      }
      const watching = feeds.subscribe(job.id);
      const { feed } = watching;
      return streamSSE(c, async (stream) => {
        const stop = new AbortController();
        const release = () => {
          slot.release();
          watching.release();
        };
        stream.onAbort(() => {
          release();
          stop.abort();
        });
        c.req.raw.signal.addEventListener('abort', () => stop.abort(), { once: true });
        let lastState = '';
        let lastWrite = Date.now();
        let first = true;
        try {
          await feed.ready;
          while (!stop.signal.aborted) {
            const seen = feed.currentVersion;
            if (feed.error) throw feed.error;
            // The job as of the feed's last poll, whose lines were all stored before it was read.
            const current = feed.job;
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
            // Behind what the feed keeps: from the database, as a stream of its own would.
            const batch =
              feed.batchAfter(after, SSE.batch, SSE.maxBatchBytes) ??
              eventBatch(
                (await listLogLines(db, job.id, { afterSeq: after, limit: SSE.batch })).map(lineEvent),
                SSE.maxBatchBytes,
              );
            if (batch.sent > 0) {
              // One write per batch, bounded in bytes (a batch of 16 KB lines would otherwise be 16 MB at once).
              await stream.write(batch.bytes);
              after = batch.lastSeq;
              lastWrite = Date.now();
              continue;
            }
            if (after >= feed.tailSeq && feed.settledSince !== null && Date.now() - feed.settledSince >= SSE.settleMs) {
              await stream.writeSSE({
                event: 'end',
                data: JSON.stringify({ status: current.status, lastSeq: after, final: isFinal(current) }),
              });
              break;
            }
            if (Date.now() - lastWrite >= SSE.heartbeatMs) {
              await stream.write(': heartbeat\n\n');
              lastWrite = Date.now();
            }
            await feed.changed(seen, SSE.heartbeatMs, stop.signal);
          }
        } catch (err) {
          console.error(`[api] log stream of job ${job.id} failed:`, err);
          await stream.writeSSE({
            event: 'error',
            data: JSON.stringify({ message: 'the log stream failed; reconnect to resume' }),
          });
        } finally {
          release();
        }
      });
    },
  );
  return app;
}
