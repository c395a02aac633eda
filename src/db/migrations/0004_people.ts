import type { Kysely } from 'kysely';

/**
 * People and their API tokens. Users come from sign-ins (the identity
 * provider's subject, or `local` for the break-glass admin account); a job
 * belongs to the user who created it, and jobs from before this migration
 * belong to the local admin, whose row is created here so they have an owner.
 */
const LOCAL_ADMIN_ID = 'local-admin';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('subject', 'text', (c) => c.notNull().unique())
    .addColumn('email', 'text')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('mapped_role', 'text')
    .addColumn('role_override', 'text')
    .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_login_at', 'text')
    .addColumn('deactivated_at', 'text')
    .execute();

  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text')
    .addColumn('last_used_at', 'text')
    .addColumn('revoked_at', 'text')
    .execute();
  await db.schema.createIndex('api_tokens_user').on('api_tokens').column('user_id').execute();

  await db.schema.alterTable('jobs').addColumn('owner_id', 'text').execute();
  await db.schema.createIndex('jobs_owner').on('jobs').column('owner_id').execute();
  await db.schema.alterTable('audit_log').addColumn('user_id', 'text').execute();
  await db.schema.alterTable('audit_log').addColumn('token_name', 'text').execute();
  await db.schema.alterTable('sessions').addColumn('user_id', 'text').execute();
  await db.schema.alterTable('sessions').addColumn('last_seen_at', 'text').execute();

  const now = new Date().toISOString();
  await db
    .insertInto('users')
    .values({
      id: LOCAL_ADMIN_ID,
      subject: 'local',
      email: null,
      name: 'admin',
      role_override: 'admin',
      active: 1,
      created_at: now,
    })
    .execute();
  await db.updateTable('jobs').set({ owner_id: LOCAL_ADMIN_ID }).where('owner_id', 'is', null).execute();
  // Sessions from before knew only a user name: they end, and people sign in again.
  await db.updateTable('sessions').set({ revoked_at: now }).where('revoked_at', 'is', null).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sessions').dropColumn('last_seen_at').execute();
  await db.schema.alterTable('sessions').dropColumn('user_id').execute();
  await db.schema.alterTable('audit_log').dropColumn('token_name').execute();
  await db.schema.alterTable('audit_log').dropColumn('user_id').execute();
  await db.schema.dropIndex('jobs_owner').ifExists().execute();
  await db.schema.alterTable('jobs').dropColumn('owner_id').execute();
  await db.schema.dropTable('api_tokens').ifExists().execute();
  await db.schema.dropTable('users').ifExists().execute();
}
