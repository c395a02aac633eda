import type { Db } from './database.js';
import type { JobRevisionRow } from './schema.js';

/** Revisions of live environments: one row per change asked of a job after its first run. */

export interface NewRevision {
  id: string;
  jobId: string;
  kind: string;
  requestedBy: string;
  requestedById: string | null;
  reason: string | null;
  differencesJson: string;
  specJson: string;
}

/**
 * Records a revision under the next number of its job, once: a retry with the
 * same id (a retried activity, a repeated request) returns the first number.
 */
export async function insertRevision(db: Db, rev: NewRevision): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const existing = await trx.selectFrom('job_revisions').select('number').where('id', '=', rev.id).executeTakeFirst();
    if (existing) return existing.number;
    const last = await trx
      .selectFrom('job_revisions')
      .select((eb) => eb.fn.max('number').as('n'))
      .where('job_id', '=', rev.jobId)
      .executeTakeFirst();
    const number = Number(last?.n ?? 0) + 1;
    await trx
      .insertInto('job_revisions')
      .values({
        id: rev.id,
        job_id: rev.jobId,
        number,
        kind: rev.kind,
        state: 'planning',
        requested_by: rev.requestedBy,
        requested_by_id: rev.requestedById,
        reason: rev.reason,
        requested_at: new Date().toISOString(),
        differences_json: rev.differencesJson,
        spec_json: rev.specJson,
        plan_json: null,
        decided_by: null,
        error: null,
        finished_at: null,
      })
      .execute();
    return number;
  });
}

export async function updateRevision(
  db: Db,
  jobId: string,
  number: number,
  patch: Partial<Pick<JobRevisionRow, 'state' | 'plan_json' | 'decided_by' | 'error' | 'finished_at'>>,
): Promise<void> {
  await db.updateTable('job_revisions').set(patch).where('job_id', '=', jobId).where('number', '=', number).execute();
}

/** Newest first. */
export async function listRevisions(db: Db, jobId: string, limit = 50): Promise<JobRevisionRow[]> {
  return db.selectFrom('job_revisions').selectAll().where('job_id', '=', jobId).orderBy('number', 'desc').limit(limit).execute();
}

export async function getRevision(db: Db, jobId: string, number: number): Promise<JobRevisionRow | undefined> {
  return db.selectFrom('job_revisions').selectAll().where('job_id', '=', jobId).where('number', '=', number).executeTakeFirst();
}

export async function latestRevision(db: Db, jobId: string): Promise<JobRevisionRow | undefined> {
  return (await listRevisions(db, jobId, 1))[0];
}
