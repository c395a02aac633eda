import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { countJobsByStatus, transitionJob, updateJob } from '../../src/db/jobs.js';
import { appendLogLines, instanceReportLines } from '../../src/db/logs.js';
import * as pageReads from '../../src/db/migrations/0007_page_reads.js';
import { newJobRow } from '../support/jobRows.js';
import { createTempDbOf, dbKinds, type TempDb } from '../support/tempDb.js';

/**
 * Migration 0007's reads on every database: the per-status counts the
 * triggers keep must always equal a count of the jobs, whatever writes the
 * jobs (inserts, the app's updates and transitions, several rows at once,
 * deletes, concurrent connections), and the instance's report lines read
 * through their own index are the same lines as before.
 */

async function countedByScan(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('jobs')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .orderBy('status')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

describe.each(dbKinds())('on %s', (kind) => {
  let t: TempDb;
  let db: Db;
  beforeAll(async () => {
    t = await createTempDbOf(kind);
    db = t.db;
  }, 60_000);
  afterAll(async () => {
    await t?.cleanup();
  });

  it('the counts follow inserts, updates, transitions and deletes', async () => {
    const a = await newJobRow(db, { status: 'draft', prefix: 'pr' });
    const b = await newJobRow(db, { status: 'draft', prefix: 'pr' });
    const c = await newJobRow(db, { status: 'running', prefix: 'pr' });
    expect(await countJobsByStatus(db)).toEqual(await countedByScan(db));

    await updateJob(db, a, { status: 'queued' });
    // An update that leaves the status alone changes no count.
    await updateJob(db, b, { status: 'draft', step: 'verify' });
    expect(await transitionJob(db, c, ['running'], { status: 'succeeded' })).toBe(true);
    expect(await transitionJob(db, c, ['running'], { status: 'failed' })).toBe(false);
    expect(await countJobsByStatus(db)).toEqual(await countedByScan(db));

    // Several rows in one statement, in both directions between two statuses.
    await db.updateTable('jobs').set({ status: 'cancelled' }).where('id', 'in', [a, b]).execute();
    await db.updateTable('jobs').set({ status: 'draft' }).where('id', '=', a).execute();
    expect(await countJobsByStatus(db)).toEqual(await countedByScan(db));

    await db.deleteFrom('jobs').where('id', '=', b).execute();
    const counts = await countJobsByStatus(db);
    expect(counts).toEqual(await countedByScan(db));
    // A status none is in any more is left out, as a count of the jobs would.
    expect(counts.cancelled).toBeUndefined();
  });

  it('the counts stay right under concurrent writers on separate connections', async () => {
    const other = t.open();
    const ids = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => await newJobRow(i % 2 ? db : other, { status: 'draft', prefix: 'pr' })),
    );
    await Promise.all(
      ids.map((id, i) =>
        // Half move draft → queued → running, half draft → cancelled: the same counter rows from both sides.
        (i % 2 ? db : other).transaction().execute(async (trx) => {
          if (i % 2) {
            await updateJob(trx, id, { status: 'queued' });
            await updateJob(trx, id, { status: 'running' });
          } else {
            await updateJob(trx, id, { status: 'cancelled' });
          }
        }),
      ),
    );
    expect(await countJobsByStatus(db)).toEqual(await countedByScan(db));
  });

  it('the migration counts the jobs that were there before it', async () => {
    await pageReads.down(db);
    await newJobRow(db, { status: 'failed', prefix: 'pr' });
    await pageReads.up(db);
    const counts = await countJobsByStatus(db);
    expect(counts.failed).toBeGreaterThanOrEqual(1);
    expect(counts).toEqual(await countedByScan(db));
    await newJobRow(db, { status: 'failed', prefix: 'pr' });
    expect(await countJobsByStatus(db)).toEqual(await countedByScan(db));
  });

  it("the instance's report lines come through their own index, the same lines as before", async () => {
    const job = await newJobRow(db, { status: 'running', prefix: 'pr' });
    const ts = new Date().toISOString();
    const chatter = Array.from({ length: 300 }, (_, i) => ({
      step: 'apply',
      attempt: 1,
      stream: 'stdout',
      lineNo: i + 1,
      line: `PROVISIONING-like chatter ${i} on stdout`,
      ts,
    }));
    const reports = ['PROVISIONING-STARTED', 'booting', 'PROVISIONING-DONE'].map((line, i) => ({
      step: 'ready',
      attempt: 1,
      stream: 'instance',
      lineNo: i + 1,
      line,
      ts,
    }));
    await appendLogLines(db, job, [...chatter.slice(0, 150), reports[0], reports[1], ...chatter.slice(150), reports[2]]);
    expect(await instanceReportLines(db, job)).toEqual(['PROVISIONING-STARTED', 'PROVISIONING-DONE']);
    expect(await instanceReportLines(db, job, 1)).toEqual(['PROVISIONING-STARTED']);
    if (kind === 'sqlite') {
      const query = db
        .selectFrom('job_logs')
        .select('line')
        .where('job_id', '=', job)
        .where('stream', '=', 'instance')
        .where('line', 'like', '%PROVISIONING-%')
        .orderBy('seq')
        .limit(500)
        .compile();
      // The query instanceReportLines runs, with the stream as a bound parameter, as Kysely sends it.
      const plan = await db.executeQuery<{ detail: string }>({ ...query, sql: `explain query plan ${query.sql}` });
      expect(plan.rows.map((r) => r.detail).join('\n')).toMatch(/job_logs_instance/);
    }
  });
});
