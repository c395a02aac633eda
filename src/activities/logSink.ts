import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from '../db/database.js';
import { appendLogLines, type LogLineInput } from '../db/logs.js';
import { redactorFor } from '../domain/redact.js';
import { observeLogLines } from '../observability/metrics.js';

export interface LogSinkOptions {
  db: Db;
  jobId: string;
  step: string;
  /** The activity attempt: a retried step writes new lines instead of colliding with the last try's. */
  attempt: number;
  /** Secrets the job knows (its own keys, external id…), hidden on top of the generic patterns. */
  secrets?: readonly string[];
  flushIntervalMs?: number;
  maxBatchLines?: number;
  /** A batch of long lines is cut earlier: one transaction of 2,000 × 16 KB would hold the write lock too long. */
  maxBatchChars?: number;
  /** Longer lines are cut; a multi-megabyte line would make a slow transaction and an unreadable log. */
  maxLineLength?: number;
  now?: () => Date;
}

/** A failure to store log lines after retries: surfaced on close so the step does not pretend its log is complete. */
export class LogSinkError extends Error {
  readonly type = 'LogSinkError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LogSinkError';
  }
}

/**
 * Buffers one step attempt's output lines and stores them redacted in
 * `job_logs`, one batch per transaction. The first line after a quiet moment
 * is stored as soon as the pipe's current read is split into lines; after
 * that, transactions start at most every `flushIntervalMs` (25 ms) unless a
 * full batch waits, so a steady stream costs few transactions and a lone line
 * little delay. `write` only queues; redaction and storage happen with a yield
 * to the event loop between batches, so a chatty process never starves
 * heartbeats. A line counts as stored (lastSeq, flush) only once its
 * transaction committed; until then it stays in the buffer.
 */
export class LogSink {
  readonly jobId: string;
  readonly step: string;
  readonly attempt: number;
  readonly redact: (line: string) => string;

  readonly #db: Db;
  readonly #flushIntervalMs: number;
  readonly #maxBatch: number;
  readonly #maxBatchChars: number;
  readonly #maxLineLength: number;
  readonly #now: (() => Date) | undefined;
  #buffer: LogLineInput[] = [];
  // buffer[0 .. #cleaned) are redacted and cut already: a batch retried after a failure is not redacted twice.
  #cleaned = 0;
  #nextLineNo = 1;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #draining: Promise<void> | undefined;
  #lastDrainStart = Number.NEGATIVE_INFINITY;
  #closed = false;
  #lastSeq = 0;
  #stampMs = Number.NaN;
  #stamp = '';

  constructor(opts: LogSinkOptions) {
    this.#db = opts.db;
    this.jobId = opts.jobId;
    this.step = opts.step;
    this.attempt = opts.attempt;
    this.redact = redactorFor(opts.secrets ?? []);
    this.#flushIntervalMs = opts.flushIntervalMs ?? 25;
    this.#maxBatch = opts.maxBatchLines ?? 2_000;
    this.#maxBatchChars = opts.maxBatchChars ?? 1_000_000;
    this.#maxLineLength = opts.maxLineLength ?? 16_384;
    this.#now = opts.now;
  }

  /** The last `seq` stored by this sink (0 before the first flush). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Lines accepted but not stored yet. */
  get pending(): number {
    return this.#buffer.length;
  }

  write(stream: string, line: string): void {
    if (this.#closed) throw new LogSinkError(`log sink for job ${this.jobId} step ${this.step} is closed`);
    this.#buffer.push({
      step: this.step,
      attempt: this.attempt,
      stream,
      lineNo: this.#nextLineNo++,
      line,
      ts: this.#timestamp(),
    });
    this.#schedule();
  }

  /** Stores everything written so far; rejects when a batch could not be stored (its lines stay buffered). */
  async flush(): Promise<void> {
    this.#clearTimer();
    while (this.#buffer.length > 0 || this.#draining) {
      // A background batch that failed is tried again here, where the failure can be reported.
      if (this.#draining) await this.#draining.catch(() => undefined);
      else await this.#drainOnce();
    }
  }

  /** Flushes, retrying a busy database a few times, then refuses further writes. */
  async close(): Promise<void> {
    this.#closed = true;
    let delay = 100;
    for (let tries = 0; ; tries++) {
      try {
        await this.flush();
        return;
      } catch (err) {
        if (tries >= 4) {
          throw new LogSinkError(
            `could not store ${this.#buffer.length} log lines of job ${this.jobId}: ${(err as Error).message}`,
            { cause: err },
          );
        }
        await sleep(delay);
        delay *= 2;
      }
    }
  }

  // A chatty child writes thousands of lines a millisecond: one Date and one ISO string per millisecond, not per line.
  #timestamp(): string {
    if (this.#now) return this.#now().toISOString();
    const ms = Date.now();
    if (ms !== this.#stampMs) {
      this.#stampMs = ms;
      this.#stamp = new Date(ms).toISOString();
    }
    return this.#stamp;
  }

  /** Redacted first, then cut, so a cut never splits a secret out of the patterns' sight. */
  #clean(line: string): string {
    const text = this.redact(line);
    if (text.length <= this.#maxLineLength) return text;
    // Never between the halves of a surrogate pair: a lone half is not text, and would be stored garbled.
    const last = text.charCodeAt(this.#maxLineLength - 1);
    const end = last >= 0xd800 && last <= 0xdbff ? this.#maxLineLength - 1 : this.#maxLineLength;
    return `${text.slice(0, end)}… [${text.length - end} characters cut]`;
  }

  #clearTimer() {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
  }

  /**
   * The next background drain: none while one runs (it schedules the next
   * when done). Never synchronously inside `write`: the runner writes all the
   * lines of one read of the pipe in a loop, and they belong in one batch.
   */
  #schedule(delayMs?: number) {
    if (this.#draining || this.#timer || this.#immediate || this.#buffer.length === 0) return;
    const wait =
      delayMs ?? (this.#buffer.length >= this.#maxBatch ? 0 : this.#lastDrainStart + this.#flushIntervalMs - Date.now());
    if (wait <= 0) this.#immediate = setImmediate(() => this.#startDrain());
    else this.#timer = setTimeout(() => this.#startDrain(), wait);
  }

  /** One batch, the only one in flight: two at once would both take the buffer's head. */
  #drainOnce(): Promise<void> {
    const drain = this.#drain().finally(() => {
      this.#draining = undefined;
    });
    this.#draining = drain;
    return drain;
  }

  /** Background flush: errors keep the lines buffered for the next try instead of losing them. */
  #startDrain() {
    this.#clearTimer();
    if (this.#draining) return;
    this.#drainOnce().then(
      () => {
        if (!this.#closed) this.#schedule();
      },
      () => {
        if (!this.#closed) this.#schedule(Math.max(this.#flushIntervalMs * 5, 500));
      },
    );
  }

  /** Stores one batch: up to maxBatchLines lines and (past the first) maxBatchChars characters. */
  async #drain(): Promise<void> {
    if (this.#buffer.length === 0) return;
    this.#lastDrainStart = Date.now();
    const buffer = this.#buffer;
    let n = 0;
    let chars = 0;
    while (n < buffer.length && n < this.#maxBatch) {
      if (n >= this.#cleaned) {
        buffer[n].line = this.#clean(buffer[n].line);
        this.#cleaned = n + 1;
      }
      chars += buffer[n].line.length;
      if (n > 0 && chars > this.#maxBatchChars) break;
      n++;
    }
    // A copy: lines written during the transaction must not join a batch already sent.
    const seq = await appendLogLines(this.#db, this.jobId, buffer.slice(0, n));
    // Only acknowledged lines leave the buffer, so a failed batch is retried whole
    // (and the origin key makes a half-seen retry harmless).
    this.#buffer.splice(0, n);
    this.#cleaned -= n;
    this.#lastSeq = seq;
    observeLogLines(this.step, n);
    // Let heartbeats, timers and the child's pipes run between transactions.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
