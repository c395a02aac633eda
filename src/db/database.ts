import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import {
  CompiledQuery,
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
} from 'kysely';
import type { Database } from './schema.js';
import { migrations } from './migrations/index.js';

export type Db = Kysely<Database>;

/**
 * Kysely's SQLite driver begins deferred transactions; two processes doing
 * read-then-write in those deadlock into SQLITE_BUSY instead of waiting. An
 * immediate transaction takes the write lock up front and honours busy_timeout.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/**
 * Kysely runs SQLite migrations outside any transaction and its migration lock
 * is a no-op there, so two processes starting at once could both see
 * 0001_initial pending and both apply it. SQLite DDL is transactional: saying
 * so makes the migrator wrap the read of applied migrations and the DDL in one
 * immediate transaction, which serialises the processes on the write lock.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: ConstructorParameters<typeof SqliteDialect>[0];
  constructor(config: ConstructorParameters<typeof SqliteDialect>[0]) {
    super(config);
    this.#config = config;
  }
  override createDriver() {
    return new ImmediateSqliteDriver(this.#config);
  }
  override createAdapter() {
    return new TransactionalDdlSqliteAdapter();
  }
}

export interface OpenDbOptions {
  /** How long a writer waits for another process's lock before SQLITE_BUSY. */
  busyTimeoutMs?: number;
  readonly?: boolean;
  /** Postgres: connections in the pool. */
  poolSize?: number;
}

export function openSqlite(file: string, opts: OpenDbOptions = {}): SQLite.Database {
  if (!opts.readonly) fs.mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new SQLite(file, { readonly: opts.readonly ?? false });
  sqlite.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 10_000}`);
  if (!opts.readonly) sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  return sqlite;
}

export function isPostgresUrl(target: string): boolean {
  return /^postgres(ql)?:\/\//.test(target);
}

/**
 * The database: a SQLite file (WAL, immediate transactions), or Postgres when
 * `target` is a postgres:// URL (DATABASE_URL=postgres://…): same schema,
 * same migrations, same queries. What differs lives in ./dialect.ts.
 */
export function createDb(target: string, opts: OpenDbOptions = {}): Db {
  if (isPostgresUrl(target)) {
    const pool = new pg.Pool({
      connectionString: target,
      max: opts.poolSize ?? 10,
      // A writer waiting on a lock longer than this fails instead of hanging a heartbeat forever.
      statement_timeout: opts.busyTimeoutMs ?? 30_000,
    });
    // An idle client that loses its server must not crash the process.
    pool.on('error', () => undefined);
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }
  return new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: openSqlite(target, opts) }) });
}

/** Applies pending migrations; safe when several processes start at once. */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${String((error as Error).message ?? error)}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

export async function checkDb(db: Db): Promise<void> {
  await db.selectFrom('jobs').select('id').limit(1).execute();
}
