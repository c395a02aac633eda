import type { Kysely } from 'kysely';

/**
 * Which activity invocation (workflow run and activity id) a step attempt
 * belongs to: a step can run more than once in a job's life (a destroy asked
 * for again), and each invocation counts its own attempts against its budget.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('job_steps').addColumn('invocation', 'text').execute();
  await db.schema.createIndex('job_steps_job_step').on('job_steps').columns(['job_id', 'step']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('job_steps_job_step').ifExists().execute();
  await db.schema.alterTable('job_steps').dropColumn('invocation').execute();
}
