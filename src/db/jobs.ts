import { sql, type SelectQueryBuilder } from 'kysely';
import type { Db } from './database.js';
import type { Database, JobRow, JobStepRow, JobUpdate, NewJobRow } from './schema.js';

/** Query functions for jobs and their steps; `db` first, no business rules. */

export async function insertJob(db: Db, row: NewJobRow): Promise<JobRow> {
  return db.insertInto('jobs').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function getJob(db: Db, id: string): Promise<JobRow | undefined> {
  return db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function updateJob(db: Db, id: string, patch: Omit<JobUpdate, 'id' | 'updated_at'>): Promise<void> {
  await db
    .updateTable('jobs')
    .set({ ...patch, updated_at: new Date().toISOString() })
    .where('id', '=', id)
    .execute();
}

/**
 * Moves a job from `from` to `to` only if it is still in `from`: the
 * compare-and-set that keeps two clicks on "Start" from starting two runs.
 */
export async function transitionJob(
  db: Db,
  id: string,
  from: string[],
  patch: Omit<JobUpdate, 'id' | 'updated_at'>,
): Promise<boolean> {
  const res = await db
    .updateTable('jobs')
    .set({ ...patch, updated_at: new Date().toISOString() })
    .where('id', '=', id)
    .where('status', 'in', from)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

export interface JobListQuery {
  status?: string;
  search?: string;
  /** Opaque cursor from a previous page: `createdAt|id` of its last row. */
  cursor?: string;
  limit?: number;
}

export interface JobPage {
  jobs: JobRow[];
  nextCursor: string | null;
}

export function encodeCursor(row: Pick<JobRow, 'created_at' | 'id'>): string {
  return Buffer.from(`${row.created_at}|${row.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: string; id: string } | undefined {
  const raw = Buffer.from(cursor, 'base64url').toString();
  const sep = raw.lastIndexOf('|');
  if (sep <= 0) return undefined;
  return { createdAt: raw.slice(0, sep), id: raw.slice(sep + 1) };
}

/** What a list row shows of a job: the dashboard's columns, without the spec and outputs. */
export const JOB_SUMMARY_COLUMNS = [
  'id',
  'name',
  'status',
  'step',
  'requester_email',
  'region',
  'instance_type',
  'created_at',
  'finished_at',
  'drift_state',
] as const;
export type JobSummary = Pick<JobRow, (typeof JOB_SUMMARY_COLUMNS)[number]>;

export interface JobSummaryPage {
  jobs: JobSummary[];
  nextCursor: string | null;
}

/** The filters and keyset of a job list, on a query selecting whatever columns it needs. */
function listQuery<O>(query: SelectQueryBuilder<Database, 'jobs', O>, q: JobListQuery, limit: number) {
  if (q.status) query = query.where('status', '=', q.status);
  if (q.search) {
    const pattern = `%${q.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    query = query.where((eb) =>
      eb.or([
        // lower() on both sides: SQLite's LIKE ignores ASCII case, Postgres's does not.
        eb(sql`lower(name)`, 'like', sql`lower(${pattern}) escape '\\'`),
        eb(sql`lower(requester_email)`, 'like', sql`lower(${pattern}) escape '\\'`),
      ]),
    );
  }
  const after = q.cursor ? decodeCursor(q.cursor) : undefined;
  if (after) {
    query = query.where((eb) =>
      eb.or([eb('created_at', '<', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)])]),
    );
  }
  return query
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1);
}

function pageLimit(q: JobListQuery): number {
  return Math.min(Math.max(q.limit ?? 25, 1), 200);
}

function toPage<T extends Pick<JobRow, 'created_at' | 'id'>>(rows: T[], limit: number): { jobs: T[]; nextCursor: string | null } {
  const jobs = rows.slice(0, limit);
  return { jobs, nextCursor: rows.length > limit ? encodeCursor(jobs[jobs.length - 1]) : null };
}

/** Newest first, keyset-paginated so deep pages stay as fast as the first. */
export async function listJobs(db: Db, q: JobListQuery = {}): Promise<JobPage> {
  const limit = pageLimit(q);
  return toPage(await listQuery(db.selectFrom('jobs').selectAll(), q, limit).execute(), limit);
}

/**
 * The same page as listJobs with only the summary columns: a list that shows
 * no spec or outputs reads a third of the bytes and builds smaller rows.
 */
export async function listJobSummaries(db: Db, q: JobListQuery = {}): Promise<JobSummaryPage> {
  const limit = pageLimit(q);
  return toPage(await listQuery(db.selectFrom('jobs').select(JOB_SUMMARY_COLUMNS), q, limit).execute(), limit);
}

/** Jobs per status (statuses with none left out), from the counts the database keeps, not a count of every job. */
export async function countJobsByStatus(db: Db): Promise<Record<string, number>> {
  const rows = await db.selectFrom('job_status_counts').select(['status', 'n']).where('n', '>', 0).orderBy('status').execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

// --- steps -----------------------------------------------------------------------------------

/** Records the start of a step attempt; re-recording the same attempt updates it, never duplicates. */
export async function startStep(
  db: Db,
  jobId: string,
  step: string,
  attempt: number,
  detail?: string,
  revision = 0,
): Promise<void> {
  const now = new Date().toISOString();
  await db
    .insertInto('job_steps')
    .values({ job_id: jobId, step, attempt, state: 'running', started_at: now, detail: detail ?? null, revision })
    .onConflict((oc) =>
      oc.columns(['job_id', 'step', 'attempt']).doUpdateSet({ state: 'running', finished_at: null, error: null }),
    )
    .execute();
}

export interface StepAttempt {
  /** The attempt number shown and stored: it goes on counting across invocations of the same step. */
  attempt: number;
  /** Earlier attempts of this invocation that failed on an error in the job (not on an infrastructure fault). */
  jobErrors: number;
}

/**
 * Opens an attempt of one activity invocation (`<runId>:<activityId>`):
 * earlier attempts of it still shown as running were lost with their worker
 * and become `interrupted`; the attempt number continues after the step's
 * earlier invocations (a destroy asked for again), so no row or log line of
 * theirs is overwritten.
 */
export async function beginStepAttempt(
  db: Db,
  input: { jobId: string; step: string; invocation: string; temporalAttempt: number; lostError: string; revision?: number },
): Promise<StepAttempt> {
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .selectFrom('job_steps')
      .select(['attempt', 'state', 'invocation'])
      .where('job_id', '=', input.jobId)
      .where('step', '=', input.step)
      .execute();
    const base = Math.max(0, ...rows.filter((r) => r.invocation !== input.invocation).map((r) => r.attempt));
    const attempt = base + input.temporalAttempt;
    const now = new Date().toISOString();
    await trx
      .updateTable('job_steps')
      .set({ state: 'interrupted', finished_at: now, error: input.lostError })
      .where('job_id', '=', input.jobId)
      .where('step', '=', input.step)
      .where('invocation', '=', input.invocation)
      .where('state', '=', 'running')
      .where('attempt', '<', attempt)
      .execute();
    await trx
      .insertInto('job_steps')
      .values({
        job_id: input.jobId,
        step: input.step,
        attempt,
        state: 'running',
        started_at: now,
        detail: null,
        invocation: input.invocation,
        revision: input.revision ?? 0,
      })
      .onConflict((oc) =>
        oc.columns(['job_id', 'step', 'attempt']).doUpdateSet({ state: 'running', finished_at: null, error: null }),
      )
      .execute();
    const jobErrors = rows.filter((r) => r.invocation === input.invocation && r.state === 'failed' && r.attempt < attempt).length;
    return { attempt, jobErrors };
  });
}

/** Attempts still shown as running when the job has ended were lost: they become `interrupted` with `error`. */
/** Whether any step of the job (first run or revision) is running now. */
export async function hasRunningStep(db: Db, jobId: string): Promise<boolean> {
  const row = await db
    .selectFrom('job_steps')
    .select('id')
    .where('job_id', '=', jobId)
    .where('state', '=', 'running')
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

export async function closeRunningSteps(db: Db, jobId: string, error: string): Promise<number> {
  const res = await db
    .updateTable('job_steps')
    .set({ state: 'interrupted', finished_at: new Date().toISOString(), error })
    .where('job_id', '=', jobId)
    .where('state', '=', 'running')
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

export async function finishStep(
  db: Db,
  jobId: string,
  step: string,
  attempt: number,
  state: 'succeeded' | 'failed' | 'cancelled' | 'skipped' | 'interrupted',
  opts: { error?: string; detail?: string } = {},
): Promise<void> {
  const now = new Date().toISOString();
  await db
    .insertInto('job_steps')
    .values({
      job_id: jobId,
      step,
      attempt,
      state,
      started_at: now,
      finished_at: now,
      error: opts.error ?? null,
      detail: opts.detail ?? null,
    })
    .onConflict((oc) =>
      oc.columns(['job_id', 'step', 'attempt']).doUpdateSet({
        state,
        finished_at: now,
        error: opts.error ?? null,
        ...(opts.detail !== undefined ? { detail: opts.detail } : {}),
      }),
    )
    .execute();
}

/** The steps of the job's first run (revision 0), or of one revision. */
export async function listSteps(db: Db, jobId: string, revision = 0): Promise<JobStepRow[]> {
  return db
    .selectFrom('job_steps')
    .selectAll()
    .where('job_id', '=', jobId)
    .where('revision', '=', revision)
    .orderBy('id')
    .execute();
}
