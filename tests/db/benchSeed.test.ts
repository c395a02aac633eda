import { afterAll, beforeAll, expect, it } from 'vitest';
import { sql } from 'kysely';
import SQLite from 'better-sqlite3';
import { createDb, migrateToLatest, type Db } from '../../src/db/database.js';
import { countJobsByStatus, getJob, listJobSummaries } from '../../src/db/jobs.js';
import { countLogLines, listLogLines } from '../../src/db/logs.js';
import { seedDatabase, type SeedResult } from '../../bench/seed.js';
import { createTempDb } from '../support/tempDb.js';

/**
 * The pages benchmark's seed writes without a journal or fsyncs for speed:
 * what it leaves must still be a database the app opens and reads as its own,
 * back in WAL mode, with every row where the pages look for it.
 */

let t: Awaited<ReturnType<typeof createTempDb>>;
let seeded: SeedResult;
let db: Db;

beforeAll(async () => {
  t = await createTempDb();
  // The benchmark seeds a migrated file no one has open, then starts the web on it.
  await t.db.destroy();
  seeded = seedDatabase(t.file, { jobs: 60, lines: 5_000, bigJobLines: 1_200 });
  db = createDb(t.file);
});

afterAll(async () => {
  await db?.destroy();
  // t.cleanup destroys the first handle again (a no-op) and removes the directory.
  await t?.cleanup();
});

it('leaves a migrated database in WAL mode, its size reported', async () => {
  expect(await migrateToLatest(db)).toEqual([]);
  const raw = new SQLite(t.file, { readonly: true });
  try {
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.pragma('foreign_key_check')).toEqual([]);
    expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
  } finally {
    raw.close();
  }
  expect(seeded.bytes).toBeGreaterThan(100_000);
});

it('writes the jobs and lines it says, the big job newest', async () => {
  expect(seeded).toMatchObject({ jobs: 60, lines: 5_000 });
  const counts = await countJobsByStatus(db);
  expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(60);
  const { n } = await db
    .selectFrom('job_logs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  expect(Number(n)).toBe(5_000);
  expect(await countLogLines(db, seeded.bigJobId)).toBeGreaterThanOrEqual(1_200);

  const first = await listJobSummaries(db, { limit: 25 });
  expect(first.jobs[0].id).toBe(seeded.bigJobId);
  expect((await getJob(db, seeded.bigJobId))?.status).toBe('succeeded');
  const page = await listLogLines(db, seeded.bigJobId, { afterSeq: 600, limit: 100 });
  expect(page.map((l) => l.seq)).toEqual(Array.from({ length: 100 }, (_, i) => 601 + i));
  const steps = await sql<{ n: number }>`select count(*) as n from job_steps where job_id = ${seeded.bigJobId}`.execute(db);
  expect(Number(steps.rows[0].n)).toBe(9);
});
