import { setTimeout as sleep } from 'node:timers/promises';
import { getJob, hasRunningStep } from '../db/jobs.js';
import { listLogLines, maxLogSeq } from '../db/logs.js';
import { latestRevision } from '../db/revisions.js';
import type { Db } from '../db/database.js';
import type { JobLogRow, JobRow } from '../db/schema.js';
import { isActive, revisionInProgress, type JobStatus } from '../domain/lifecycle.js';
import { logLineJson } from './jobJson.js';

/**
 * One reader of the database per job being watched, however many people
 * watch it. Each live-log stream of a job used to poll the job row and its
 * new lines every 250 ms on its own: 500 viewers of one job were 4,000
 * queries a second for the same rows. A feed polls once per job and keeps the
 * newest lines in memory; every stream takes what it has not sent yet from
 * there at its own pace, so a slow client holds back nobody. A stream that is
 * further behind than the feed remembers (it resumed from an old Last-Event-ID,
 * or its client stalled) reads those lines from the database itself, as before.
 */

/** A log line as one SSE event: its id is the line's seq, so a reconnect resumes after it. */
export interface LineEvent {
  seq: number;
  text: string;
}

/** JSON.stringify leaves no raw newline to split a data field. */
export function lineEvent(row: JobLogRow): LineEvent {
  return { seq: row.seq, text: `id: ${row.seq}\ndata: ${JSON.stringify(logLineJson(row))}\n\n` };
}

/** One write of a stream: events as bytes, how many, and the last one's seq. */
export interface EventBatch {
  bytes: Uint8Array;
  sent: number;
  lastSeq: number;
}

const utf8 = new TextEncoder();

/** As many events as fit in `maxBytes` (at least one) as one write. */
export function eventBatch(events: readonly LineEvent[], maxBytes: number): EventBatch {
  let size = 0;
  let sent = 0;
  for (const e of events) {
    if (sent > 0 && size + e.text.length > maxBytes) break;
    size += e.text.length;
    sent++;
  }
  const batch = events.slice(0, sent);
  return { bytes: utf8.encode(batch.map((e) => e.text).join('')), sent, lastSeq: batch[sent - 1]?.seq ?? 0 };
}

export interface LogFeedSettings {
  pollMs: number;
  /** Lines per read; a full read is followed by another at once. */
  batch: number;
  /** How many of the newest lines a feed keeps (as events, made once for every stream), and at most how many bytes of them. */
  feedLines: number;
  feedBytes: number;
}

/** What a stream reads from a feed: the job as of the last poll and the lines stored before it was read. */
export interface FeedState {
  job: JobRow | undefined;
  /** The last line read; every line up to it was stored before `job` was read, or before the next poll's. */
  tailSeq: number;
  /** Since when nothing is happening to the job and no line came (null: something is). */
  settledSince: number | null;
  /** The last poll's failure, if it failed: the streams say so and end. */
  error: unknown;
}

class JobFeed implements FeedState {
  job: JobRow | undefined;
  tailSeq = 0;
  settledSince: number | null = null;
  error: unknown = undefined;
  /** The feed holds every line with keptFrom < seq ≤ tailSeq. */
  private keptFrom = 0;
  private events: LineEvent[] = [];
  /** Batches made since the last new line, by the place they start after. */
  private batches = new Map<number, EventBatch>();
  private bytes = 0;
  private version = 0;
  private waiters = new Set<() => void>();
  readonly ready: Promise<void>;
  private stopped = new AbortController();

  constructor(
    private readonly db: Db,
    readonly jobId: string,
    private readonly s: LogFeedSettings,
  ) {
    this.ready = this.run();
  }

  /**
   * The next write for a stream that has sent up to `after`, or `undefined` when some of its
   * lines are older than what the feed keeps. Streams at the same place (most are: they all
   * follow the tail) share one batch, made and encoded once per poll.
   */
  batchAfter(after: number, limit: number, maxBytes: number): EventBatch | undefined {
    if (after < this.keptFrom) return undefined;
    const made = this.batches.get(after);
    if (made) return made;
    // Events are in seq order: find the first one past `after`.
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid]!.seq <= after) lo = mid + 1;
      else hi = mid;
    }
    if (lo === this.events.length) return { bytes: new Uint8Array(), sent: 0, lastSeq: after };
    const batch = eventBatch(this.events.slice(lo, lo + limit), maxBytes);
    this.batches.set(after, batch);
    return batch;
  }

  /** Resolves at the next poll, after `timeoutMs`, or when `signal` aborts. */
  changed(seen: number, timeoutMs: number, signal: AbortSignal): Promise<number> {
    if (this.version !== seen) return Promise.resolve(this.version);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve(this.version);
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  get currentVersion(): number {
    return this.version;
  }

  stop(): void {
    this.stopped.abort();
  }

  private async run(): Promise<void> {
    // The feed remembers lines from now on; what came before, a stream reads from the database.
    try {
      this.tailSeq = this.keptFrom = await maxLogSeq(this.db, this.jobId);
    } catch (err) {
      this.error = err;
    }
    void this.loop(await this.poll());
  }

  private async loop(full: boolean): Promise<void> {
    for (;;) {
      if (!full) await sleep(this.s.pollMs, undefined, { signal: this.stopped.signal }).catch(() => undefined);
      if (this.stopped.signal.aborted) return;
      full = await this.poll();
    }
  }

  /** One round: the job first, then its lines (a job final before the read has stored its last line). */
  private async poll(): Promise<boolean> {
    let full = false;
    try {
      const job = await getJob(this.db, this.jobId);
      let came = 0;
      if (job) {
        const rows = await listLogLines(this.db, this.jobId, { afterSeq: this.tailSeq, limit: this.s.batch });
        for (const row of rows) this.keep(row);
        came = rows.length;
        full = rows.length === this.s.batch;
        if (came > 0 || !(await isSettled(this.db, job))) this.settledSince = null;
        else this.settledSince ??= Date.now();
      }
      this.job = job;
      this.error = undefined;
    } catch (err) {
      this.error = err;
    }
    this.version++;
    for (const wake of [...this.waiters]) wake();
    return full && !this.error;
  }

  private keep(row: JobLogRow): void {
    this.batches.clear();
    const event = lineEvent(row);
    this.events.push(event);
    this.bytes += event.text.length;
    this.tailSeq = row.seq;
    while (this.events.length > this.s.feedLines || (this.bytes > this.s.feedBytes && this.events.length > 1)) {
      const dropped = this.events.shift()!;
      this.bytes -= dropped.text.length;
      this.keptFrom = dropped.seq;
    }
  }
}

/**
 * Whether nothing is happening to the job now: not running, no step and no
 * revision in progress. A stream ends there rather than stay open for days on
 * a live environment; the job page follows the job and streams again once an
 * action (destroy, a change) starts something.
 */
async function isSettled(db: Db, job: JobRow): Promise<boolean> {
  if (job.status === 'draft' || isActive(job.status as JobStatus)) return false;
  if (await hasRunningStep(db, job.id)) return false;
  return !revisionInProgress((await latestRevision(db, job.id))?.state);
}

export interface FeedSubscription {
  feed: FeedState & Pick<JobFeed, 'batchAfter' | 'changed' | 'currentVersion' | 'ready'>;
  release(): void;
}

/** The feeds of one web process: one per job with at least one stream, stopped with its last one. */
export class LogFeeds {
  private feeds = new Map<string, { feed: JobFeed; streams: number }>();

  constructor(
    private readonly db: Db,
    private readonly settings: LogFeedSettings,
  ) {}

  subscribe(jobId: string): FeedSubscription {
    let entry = this.feeds.get(jobId);
    if (!entry) {
      entry = { feed: new JobFeed(this.db, jobId, this.settings), streams: 0 };
      this.feeds.set(jobId, entry);
    }
    entry.streams++;
    const held = entry;
    let released = false;
    return {
      feed: held.feed,
      release: () => {
        if (released) return;
        released = true;
        held.streams--;
        if (held.streams === 0 && this.feeds.get(jobId) === held) {
          this.feeds.delete(jobId);
          held.feed.stop();
        }
      },
    };
  }

  /** Jobs with a feed now (for tests and metrics). */
  get size(): number {
    return this.feeds.size;
  }
}
