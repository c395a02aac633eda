import type { Kysely } from 'kysely';

/**
 * Day 2: revisions of a live environment and drift. A revision is one change
 * after the first run (who asked, what changed, the plan, the outcome); its
 * steps are more attempts in job_steps, told apart by their revision number
 * (0: the job's first run). Drift is the last check's verdict on the job.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('job_revisions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
    .addColumn('number', 'integer', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('requested_by', 'text', (c) => c.notNull())
    .addColumn('requested_by_id', 'text')
    .addColumn('reason', 'text')
    .addColumn('requested_at', 'text', (c) => c.notNull())
    .addColumn('differences_json', 'text', (c) => c.notNull())
    .addColumn('spec_json', 'text', (c) => c.notNull())
    .addColumn('plan_json', 'text')
    .addColumn('decided_by', 'text')
    .addColumn('error', 'text')
    .addColumn('finished_at', 'text')
    .addUniqueConstraint('job_revisions_number', ['job_id', 'number'])
    .execute();
  await db.schema
    .alterTable('job_steps')
    .addColumn('revision', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('jobs').addColumn('drift_state', 'text').execute();
  await db.schema.alterTable('jobs').addColumn('drift_checked_at', 'text').execute();
  await db.schema.alterTable('jobs').addColumn('drift_json', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const column of ['drift_json', 'drift_checked_at', 'drift_state']) {
    await db.schema.alterTable('jobs').dropColumn(column).execute();
  }
  await db.schema.alterTable('job_steps').dropColumn('revision').execute();
  await db.schema.dropTable('job_revisions').ifExists().execute();
}
