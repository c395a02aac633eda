import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogSink } from '../../src/activities/logSink.js';
import type { Db } from '../../src/db/database.js';
import { listLogLines, maxLogSeq } from '../../src/db/logs.js';
import { newJobRow } from '../support/jobRows.js';
import { createTempDb } from '../support/tempDb.js';

/**
 * How LogSink batches a step's output into transactions: the first line after
 * a quiet moment at once, a whole read of the pipe in one batch, bounded
 * batches, a window between transactions; and through all of it every line
 * stored once, in order, and no acknowledged line lost when the process dies.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');

let t: Awaited<ReturnType<typeof createTempDb>>;
beforeAll(async () => {
  t = await createTempDb();
});
afterAll(async () => {
  await t?.cleanup();
});

async function until(what: () => Promise<boolean> | boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await what())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('LogSink batching', () => {
  it('stores the first line after a quiet moment without waiting for the batching window', async () => {
    const jobId = await newJobRow(t.db);
    const sink = new LogSink({ db: t.db, jobId, step: 'apply', attempt: 1, flushIntervalMs: 60_000 });
    sink.write('stdout', 'first');
    await until(() => sink.lastSeq === 1, 2_000);
    // The next line comes within the window: it waits for it (or a flush).
    sink.write('stdout', 'second');
    await new Promise((r) => setTimeout(r, 100));
    expect(sink.lastSeq).toBe(1);
    expect(sink.pending).toBe(1);
    await sink.close();
    expect((await listLogLines(t.db, jobId)).map((l) => l.line)).toEqual(['first', 'second']);
  });

  it('stores the lines of one read of the pipe in one transaction, up to the batch bounds', async () => {
    const jobId = await newJobRow(t.db);
    const sink = new LogSink({ db: t.db, jobId, step: 'apply', attempt: 1, flushIntervalMs: 60_000 });
    // One read of the pipe: the runner writes all its lines in one go.
    for (let i = 1; i <= 1_500; i++) sink.write('stdout', `line ${i}`);
    await until(() => sink.lastSeq > 0);
    expect(sink.lastSeq).toBe(1_500);

    // More than a batch's lines: full batches go at once, without waiting for the window; the rest waits for it.
    for (let i = 1; i <= 4_500; i++) sink.write('stdout', `more ${i}`);
    const seen = new Set<number>();
    await until(() => {
      seen.add(sink.lastSeq);
      return sink.lastSeq === 5_500;
    });
    expect(seen.has(3_500)).toBe(true);
    expect(sink.pending).toBe(500);
    await sink.close();
    expect(await maxLogSeq(t.db, jobId)).toBe(6_000);
  });

  it('cuts a batch of long lines by characters', async () => {
    const jobId = await newJobRow(t.db);
    const sink = new LogSink({ db: t.db, jobId, step: 'apply', attempt: 1, maxBatchChars: 100_000 });
    const long = 'x'.repeat(10_000);
    for (let i = 0; i < 25; i++) sink.write('stdout', long);
    await until(() => sink.lastSeq > 0);
    expect(sink.lastSeq).toBe(10);
    await sink.close();
    expect(await maxLogSeq(t.db, jobId)).toBe(25);
  });

  it('stores every line once and in order, across batch edges, failed transactions and flushes', async () => {
    const jobId = await newJobRow(t.db);
    let failNext = 0;
    // A database that fails some transactions after their insert ran: the batch is rolled back and must be tried again.
    const flaky = new Proxy(t.db, {
      get(target, prop) {
        if (prop !== 'transaction') {
          // Kysely's own members are private: called on the database itself, not on the proxy.
          const value = Reflect.get(target, prop);
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return () => ({
          execute: <T>(fn: (trx: Db) => Promise<T>) =>
            target.transaction().execute(async (trx) => {
              const result = await fn(trx as Db);
              if (failNext > 0) {
                failNext--;
                throw new Error('connection lost mid-transaction');
              }
              return result;
            }),
        });
      },
    }) as Db;
    const sink = new LogSink({ db: flaky, jobId, step: 'apply', attempt: 1, flushIntervalMs: 5, maxBatchLines: 7 });
    let n = 0;
    for (let round = 0; round < 40; round++) {
      const count = (round * 13) % 17;
      for (let i = 0; i < count; i++) sink.write(i % 3 === 0 ? 'stderr' : 'stdout', `line ${++n}`);
      if (round % 5 === 0) failNext = 1;
      if (round % 9 === 0) await sink.flush().catch(() => undefined);
      else await new Promise((r) => setTimeout(r, round % 4));
    }
    failNext = 0;
    await sink.close();
    const rows = await listLogLines(t.db, jobId, { limit: 10_000 });
    expect(rows.map((r) => r.line)).toEqual(Array.from({ length: n }, (_, i) => `line ${i + 1}`));
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    expect(rows.map((r) => r.line_no)).toEqual(rows.map((_, i) => i + 1));
  });

  it('never lets a flush and a background batch take the same lines', async () => {
    const jobId = await newJobRow(t.db);
    const sink = new LogSink({ db: t.db, jobId, step: 'apply', attempt: 1, flushIntervalMs: 1, maxBatchLines: 5 });
    for (let i = 1; i <= 5; i++) sink.write('stdout', `line ${i}`);
    const flushed = sink.flush();
    // Written while the flush's transaction is open: a full batch, which would start one of its own.
    for (let i = 6; i <= 15; i++) sink.write('stdout', `line ${i}`);
    await flushed;
    await sink.close();
    const rows = await listLogLines(t.db, jobId);
    expect(rows.map((r) => r.line)).toEqual(Array.from({ length: 15 }, (_, i) => `line ${i + 1}`));
  });

  it('loses no acknowledged line when the process dies mid-batch', async () => {
    const jobId = await newJobRow(t.db);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'tests', 'support', 'logSinkChild.ts'), t.file, jobId],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let acked = 0;
    let out = '';
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const last = /acked (\d+)\n[^\n]*$/.exec(out);
        if (last) acked = Number(last[1]);
        // Killed while it writes: batches in flight, lines buffered, a transaction perhaps open.
        if (acked >= 20_000) resolve();
      });
      child.once('exit', () => reject(new Error(`child exited early; acked ${acked}`)));
    });
    child.kill('SIGKILL');
    await exited;
    const stored = await maxLogSeq(t.db, jobId);
    expect(stored).toBeGreaterThanOrEqual(acked);
    const lines = await listLogLines(t.db, jobId, { limit: 100_000 });
    expect(lines.map((l) => l.line)).toEqual(Array.from({ length: stored }, (_, i) => `line ${i + 1}`));
    expect(lines.map((l) => l.seq)).toEqual(lines.map((_, i) => i + 1));
  }, 60_000);
});
