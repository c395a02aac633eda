import { sql, type Kysely, type RawBuilder } from 'kysely';
import { dialectOf } from './dialect.js';

/**
 * The JSON half of the dialect seam (see dialect.ts): the database writes a
 * row as a JSON object, as text. A read path that only forwards rows to a
 * client then never turns them into JS objects just to stringify them again,
 * which is most of the cost of a big page. Both databases give the same JSON
 * value, keys in the order given; only insignificant whitespace differs
 * (Postgres writes `"k" : v`).
 */

/** `{key: column, …}` of the current row; `fields` maps each JSON key to its column. */
export function jsonObjectOf(db: Kysely<any>, fields: Record<string, string>): RawBuilder<string> {
  const pairs = sql.join(Object.entries(fields).flatMap(([key, column]) => [sql.lit(key), sql.ref(column)]));
  // ::text keeps pg from parsing the value back into an object.
  return dialectOf(db) === 'postgres' ? sql<string>`json_build_object(${pairs})::text` : sql<string>`json_object(${pairs})`;
}
