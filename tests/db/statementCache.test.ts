import { afterEach, expect, it, vi } from 'vitest';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { keepingStatements } from '../../src/db/database.js';
import { insertJob } from '../../src/db/jobs.js';
import { createTempDb } from '../support/tempDb.js';

/**
 * The SQLite driver's statements are kept prepared (src/db/database.ts):
 * a query run again reuses its statement, the cache stays bounded, and a
 * statement still being iterated is never handed out for a second query.
 */

const open: { close(): void }[] = [];
afterEach(() => {
  for (const d of open.splice(0)) d.close();
});

function memoryDb() {
  const sqlite = new SQLite(':memory:');
  open.push(sqlite);
  sqlite.exec('create table t (n integer)');
  sqlite.exec('insert into t values (1), (2), (3)');
  return { sqlite, prepare: vi.spyOn(sqlite, 'prepare') };
}

it('prepares a query once, however often it runs', () => {
  const { sqlite, prepare } = memoryDb();
  const db = keepingStatements(sqlite);
  const first = db.prepare('select n from t where n > ?');
  for (let i = 0; i < 5; i++) expect(db.prepare('select n from t where n > ?')).toBe(first);
  expect(prepare).toHaveBeenCalledTimes(1);
  expect(first.all([1])).toEqual([{ n: 2 }, { n: 3 }]);
  expect(db.prepare('select n from t where n > ?').all([2])).toEqual([{ n: 3 }]);
});

it('keeps at most `max` statements, dropping the least recently used', () => {
  const { sqlite, prepare } = memoryDb();
  const db = keepingStatements(sqlite, 3);
  const q = (i: number) => `select n + ${i} as m from t`;
  for (const i of [1, 2, 3]) db.prepare(q(i));
  db.prepare(q(1)); // 1 is now the most recently used; 2 the least
  db.prepare(q(4)); // evicts 2
  expect(prepare).toHaveBeenCalledTimes(4);
  db.prepare(q(1));
  db.prepare(q(3));
  db.prepare(q(4));
  expect(prepare).toHaveBeenCalledTimes(4);
  db.prepare(q(2));
  expect(prepare).toHaveBeenCalledTimes(5);
});

it('hands out a fresh statement while the kept one is mid-iteration', () => {
  const { sqlite } = memoryDb();
  const db = keepingStatements(sqlite);
  const text = 'select n from t order by n';
  const kept = db.prepare(text);
  const seen: unknown[] = [];
  for (const row of kept.iterate([])) {
    const other = db.prepare(text);
    expect(other).not.toBe(kept);
    seen.push([row, other.all([])]);
  }
  expect(seen).toHaveLength(3);
  // Once the iteration is over, the kept statement serves again.
  expect(db.prepare(text)).toBe(kept);
});

it('through Kysely: a streamed query and queries run meanwhile each get their rows', async () => {
  const t = await createTempDb();
  try {
    for (const i of [1, 2, 3]) {
      await insertJob(t.db, {
        id: `cache-${i}`,
        name: `cache-${i}`,
        status: 'draft',
        requester_email: 'alice@example.com',
        region: 'us-east-1',
        instance_type: 't3.micro',
        auth_method: 'assume_role',
        spec_json: '{}',
        created_at: `2026-01-0${i}T00:00:00.000Z`,
        updated_at: `2026-01-0${i}T00:00:00.000Z`,
      });
    }
    const names = () => t.db.selectFrom('jobs').select('name').orderBy('name').execute();
    const streamed: string[] = [];
    const during: string[][] = [];
    const stream = t.db.selectFrom('jobs').select('name').orderBy('name').stream();
    // Kysely holds the connection through the stream: the queries queue behind it, then run.
    const pending: Promise<void>[] = [];
    for await (const row of stream) {
      streamed.push(row.name);
      pending.push(names().then((rows) => void during.push(rows.map((r) => r.name))));
    }
    await Promise.all(pending);
    expect(streamed).toEqual(['cache-1', 'cache-2', 'cache-3']);
    expect(during).toEqual(Array(3).fill(['cache-1', 'cache-2', 'cache-3']));
    // The same statement text with other parameters: the kept statement binds them afresh.
    for (const i of [1, 2, 3]) {
      const r = await sql<{ name: string }>`select name from jobs where id = ${`cache-${i}`}`.execute(t.db);
      expect(r.rows).toEqual([{ name: `cache-${i}` }]);
    }
  } finally {
    await t.cleanup();
  }
});
