import { PostgresAdapter, sql, type Kysely } from 'kysely';

/**
 * The one place that knows which database is underneath. Queries are written
 * once, in Kysely's portable subset; what differs between SQLite and
 * Postgres (identity columns, serialising writers) goes through here.
 */

export type DbDialect = 'sqlite' | 'postgres';

export function dialectOf(db: Kysely<any>): DbDialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/**
 * Inside a transaction: waits until no other transaction holds `key`, and
 * holds it until this one ends. Postgres takes a transaction-scoped advisory
 * lock; SQLite's transactions begin immediate (see database.ts), which already
 * serialises all writers, so there it is a no-op.
 */
export async function lockKeyInTransaction(trx: Kysely<any>, key: string): Promise<void> {
  if (dialectOf(trx) !== 'postgres') return;
  await sql`select pg_advisory_xact_lock(hashtext(${key}))`.execute(trx);
}

/** A column type for an auto-numbered integer primary key. */
export function autoIdType(db: Kysely<any>): 'serial' | 'integer' {
  return dialectOf(db) === 'postgres' ? 'serial' : 'integer';
}
