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
 * `job_logs`, flushing every ~100 ms or every 500 lines. `write` only queues;
 * redaction and storage happen one batch per transaction with a yield to the
 * event loop between batches, so a chatty process never starves heartbeats.
 */
export class LogSink {
  readonly jobId: string;
  readonly step: string;
  readonly attempt: number;
  readonly redact: (line: string) => string;

  readonly #db: Db;
  readonly #flushIntervalMs: number;
  readonly #maxBatch: number;
  readonly #maxLineLength: number;
  readonly #now: () => Date;
  #buffer: LogLineInput[] = [];
  #nextLineNo = 1;
  #timer: NodeJS.Timeout | undefined;
  #draining: Promise<void> | undefined;
  #closed = false;
  #lastSeq = 0;

  constructor(opts: LogSinkOptions) {
    this.#db = opts.db;
    this.jobId = opts.jobId;
    this.step = opts.step;
    this.attempt = opts.attempt;
    this.redact = redactorFor(opts.secrets ?? []);
    this.#flushIntervalMs = opts.flushIntervalMs ?? 100;
    this.#maxBatch = opts.maxBatchLines ?? 500;
    this.#maxLineLength = opts.maxLineLength ?? 16_384;
    this.#now = opts.now ?? (() => new Date());
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
      ts: this.#now().toISOString(),
    });
    if (this.#buffer.length >= this.#maxBatch) this.#startDrain();
    else this.#timer ??= setTimeout(() => this.#startDrain(), this.#flushIntervalMs);
  }

  /** Stores everything written so far. */
  async flush(): Promise<void> {
    this.#clearTimer();
    while (this.#buffer.length > 0 || this.#draining) {
      if (this.#draining) await this.#draining;
      else await this.#drain();
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
    this.#timer = undefined;
  }

  /** Background flush: errors keep the lines buffered for the next try instead of losing them. */
  #startDrain() {
    this.#clearTimer();
    if (this.#draining) return;
    this.#draining = this.#drain()
      .catch(() => {
        if (!this.#closed) this.#timer ??= setTimeout(() => this.#startDrain(), this.#flushIntervalMs * 5);
      })
      .finally(() => {
        this.#draining = undefined;
      });
  }

  async #drain(): Promise<void> {
    while (this.#buffer.length > 0) {
      const batch = this.#buffer.slice(0, this.#maxBatch);
      this.#lastSeq = await appendLogLines(
        this.#db,
        this.jobId,
        batch.map((l) => ({ ...l, line: this.#clean(l.line) })),
      );
      // Only acknowledged lines leave the buffer, so a failed batch is retried whole
      // (and the origin key makes a half-seen retry harmless).
      this.#buffer.splice(0, batch.length);
      observeLogLines(this.step, batch.length);
      // Let heartbeats, timers and the child's pipes run between transactions.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}
