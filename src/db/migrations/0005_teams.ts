import type { Kysely } from 'kysely';

/**
 * Teams and their AWS accounts. Each account's external ID is made by the
 * server (never typed), and a rotation keeps the previous one working until
 * `previous_valid_until`. A team narrows the global allowlists (NULL: the
 * global one applies). Jobs remember the team account they run in; jobs from
 * before keep their typed role ARN and external ID and run as before.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('teams')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('oidc_group', 'text')
    .addColumn('allowed_regions', 'text')
    .addColumn('allowed_instance_types', 'text')
    .addColumn('max_ttl_hours', 'integer')
    .addColumn('max_live_jobs', 'integer')
    .addColumn('approval_policy', 'text', (c) => c.notNull().defaultTo('never'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('team_members')
    .addColumn('team_id', 'text', (c) => c.notNull().references('teams.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('source', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('team_members_pk', ['team_id', 'user_id'])
    .execute();
  await db.schema.createIndex('team_members_user').on('team_members').column('user_id').execute();
  await db.schema
    .createTable('team_accounts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('team_id', 'text', (c) => c.notNull().references('teams.id').onDelete('cascade'))
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('role_arn', 'text', (c) => c.notNull())
    .addColumn('external_id', 'text', (c) => c.notNull())
    .addColumn('previous_external_id', 'text')
    .addColumn('previous_valid_until', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('rotated_at', 'text')
    .addUniqueConstraint('team_accounts_role', ['team_id', 'role_arn'])
    .execute();
  await db.schema.createIndex('team_accounts_role_arn').on('team_accounts').column('role_arn').execute();
  // Facts the worker learns that the web shows: its AWS principal, which role trust policies name.
  await db.schema
    .createTable('service_facts')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.alterTable('jobs').addColumn('team_id', 'text').execute();
  await db.schema.alterTable('jobs').addColumn('team_account_id', 'text').execute();
  await db.schema.createIndex('jobs_team').on('jobs').column('team_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('jobs_team').ifExists().execute();
  await db.schema.alterTable('jobs').dropColumn('team_account_id').execute();
  await db.schema.alterTable('jobs').dropColumn('team_id').execute();
  await db.schema.dropTable('service_facts').ifExists().execute();
  await db.schema.dropTable('team_accounts').ifExists().execute();
  await db.schema.dropTable('team_members').ifExists().execute();
  await db.schema.dropTable('teams').ifExists().execute();
}
