import { PostgresAdapter, sql, type Kysely, type RawBuilder } from 'kysely';

/**
 * The one place that knows which database is underneath. Queries are written
 * once, in Kysely's portable subset; what differs between SQLite and
 * Postgres (identity columns, serialising writers, JSON built in the query)
 * goes through here.
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

/**
 * The database writes a row as a JSON object, as text: a read path that only
 * forwards rows to a client then never turns them into JS objects just to
 * stringify them again, which is most of the cost of a big page. Both
 * databases give the same JSON value, keys in the order given; only
 * insignificant whitespace differs (Postgres writes `"k" : v`).
 *
 * `fields` maps each JSON key to its column of the current row.
 */
export function jsonObjectOf(db: Kysely<any>, fields: Record<string, string>): RawBuilder<string> {
  const pairs = sql.join(Object.entries(fields).flatMap(([key, column]) => [sql.lit(key), sql.ref(column)]));
  // ::text keeps pg from parsing the value back into an object.
  return dialectOf(db) === 'postgres' ? sql<string>`json_build_object(${pairs})::text` : sql<string>`json_object(${pairs})`;
}
