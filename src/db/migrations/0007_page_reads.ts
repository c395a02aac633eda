import { PostgresAdapter, sql, type Kysely } from 'kysely';

/**
 * What the pages read, kept so that reading it does not grow with the tables.
 *
 * job_status_counts: the dashboard's per-status counts, kept by triggers on
 * jobs (counting 100,000 jobs on every refresh was the dashboard's largest
 * cost). A status whose jobs are all gone keeps its row with n = 0.
 *
 * job_logs_instance: the instance's report lines of a job (stream
 * 'instance', a handful per job) without walking every line of the job: the
 * job page read 200,000 rows of a chatty job to find none.
 */

const isPostgres = (db: Kysely<any>) => db.getExecutor().adapter instanceof PostgresAdapter;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('job_status_counts')
    .addColumn('status', 'text', (c) => c.primaryKey())
    .addColumn('n', 'integer', (c) => c.notNull())
    .execute();
  await sql`insert into job_status_counts (status, n) select status, count(*) from jobs group by status`.execute(db);
  if (isPostgres(db)) await postgresTriggers(db);
  else await sqliteTriggers(db);

  await db.schema
    .createIndex('job_logs_instance')
    .on('job_logs')
    .columns(['job_id', 'seq'])
    .where(sql.ref('stream'), '=', 'instance')
    .execute();
}

async function sqliteTriggers(db: Kysely<any>): Promise<void> {
  const add = (row: string) =>
    `insert into job_status_counts (status, n) values (${row}.status, 1) on conflict (status) do update set n = n + 1;`;
  const remove = (row: string) => `update job_status_counts set n = n - 1 where status = ${row}.status;`;
  await sql.raw(`create trigger jobs_status_count_insert after insert on jobs begin ${add('new')} end`).execute(db);
  await sql
    .raw(
      `create trigger jobs_status_count_update after update of status on jobs when old.status is not new.status
       begin ${remove('old')} ${add('new')} end`,
    )
    .execute(db);
  await sql.raw(`create trigger jobs_status_count_delete after delete on jobs begin ${remove('old')} end`).execute(db);
}

async function postgresTriggers(db: Kysely<any>): Promise<void> {
  // Two writers moving jobs between the same two statuses in opposite directions take the two
  // counter rows in the same order (by status), so they queue instead of deadlocking.
  await sql
    .raw(`
      create function jobs_status_count() returns trigger language plpgsql as $$
      begin
        if tg_op = 'INSERT' then
          insert into job_status_counts (status, n) values (new.status, 1)
            on conflict (status) do update set n = job_status_counts.n + 1;
        elsif tg_op = 'DELETE' then
          update job_status_counts set n = n - 1 where status = old.status;
        elsif old.status < new.status then
          update job_status_counts set n = n - 1 where status = old.status;
          insert into job_status_counts (status, n) values (new.status, 1)
            on conflict (status) do update set n = job_status_counts.n + 1;
        elsif old.status > new.status then
          insert into job_status_counts (status, n) values (new.status, 1)
            on conflict (status) do update set n = job_status_counts.n + 1;
          update job_status_counts set n = n - 1 where status = old.status;
        end if;
        return null;
      end $$`)
    .execute(db);
  await sql
    .raw(`create trigger jobs_status_count after insert or delete or update of status on jobs
      for each row execute function jobs_status_count()`)
    .execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('job_logs_instance').ifExists().execute();
  if (isPostgres(db)) {
    await sql`drop trigger if exists jobs_status_count on jobs`.execute(db);
    await sql`drop function if exists jobs_status_count()`.execute(db);
  } else {
    for (const t of ['insert', 'update', 'delete']) await sql.raw(`drop trigger if exists jobs_status_count_${t}`).execute(db);
  }
  await db.schema.dropTable('job_status_counts').ifExists().execute();
}
