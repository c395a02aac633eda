import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type SqliteDatabase,
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
  readonly #sqlite: SQLite.Database;
  readonly #waitMs: number;
  #wrapped: { inner: DatabaseConnection; outer: DatabaseConnection } | undefined;

  constructor(config: ConstructorParameters<typeof SqliteDialect>[0], sqlite: SQLite.Database, waitMs: number) {
    super(config);
    this.#sqlite = sqlite;
    this.#waitMs = waitMs;
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const inner = await super.acquireConnection();
    if (this.#wrapped?.inner !== inner) this.#wrapped = { inner, outer: waitingOutLocks(inner, this.#sqlite, this.#waitMs) };
    return this.#wrapped.outer;
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/** How long better-sqlite3 itself waits for a lock: it blocks the event loop meanwhile, so only briefly. */
const SYNC_BUSY_WAIT_MS = 50;

/**
 * better-sqlite3 waits for another process's write lock synchronously, which
 * would stall heartbeats and requests for as long as the lock is held. Here a
 * statement that finds the database locked (outside a transaction, or the
 * `begin immediate` that opens one: nothing has run yet, so trying again is
 * safe) is retried asynchronously, with backoff, for up to `waitMs`.
 */
function waitingOutLocks(inner: DatabaseConnection, sqlite: SQLite.Database, waitMs: number): DatabaseConnection {
  return {
    async executeQuery(query) {
      const deadline = Date.now() + waitMs;
      for (let delay = 10; ; delay = Math.min(delay * 2, 250)) {
        try {
          return await inner.executeQuery(query);
        } catch (err) {
          const busy = /^SQLITE_BUSY/.test(String((err as { code?: unknown }).code ?? ''));
          if (!busy || sqlite.inTransaction || Date.now() + delay > deadline) throw err;
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    },
    streamQuery: (query, chunkSize) => inner.streamQuery(query, chunkSize),
  };
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

/** Distinct statements kept prepared: every query shape the app has, with room to spare. */
const STATEMENTS_KEPT = 500;

/**
 * The database as Kysely's driver sees it, keeping its prepared statements:
 * the driver prepares every query again, and SQLite's parse and plan are a
 * good part of a short page query's time. The least recently used statement
 * goes past `max`. A statement still being iterated (a streamed query) is
 * busy and cannot run a second query meanwhile, so the caller then gets a
 * fresh one.
 */
export function keepingStatements(sqlite: SQLite.Database, max = STATEMENTS_KEPT): SqliteDatabase {
  const kept = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      const stmt = kept.get(sql);
      if (stmt) {
        if (stmt.busy) return sqlite.prepare(sql);
        // Map order is the recency order: the one used now goes last.
        kept.delete(sql);
        kept.set(sql, stmt);
        return stmt;
      }
      const fresh = sqlite.prepare(sql);
      kept.set(sql, fresh);
      if (kept.size > max) kept.delete(kept.keys().next().value!);
      return fresh;
    },
  };
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: ConstructorParameters<typeof SqliteDialect>[0];
  readonly #sqlite: SQLite.Database;
  readonly #waitMs: number;
  constructor(sqlite: SQLite.Database, waitMs: number) {
    const config = { database: keepingStatements(sqlite) };
    super(config);
    this.#config = config;
    this.#sqlite = sqlite;
    this.#waitMs = waitMs;
  }
  override createDriver() {
    return new ImmediateSqliteDriver(this.#config, this.#sqlite, this.#waitMs);
  }
  override createAdapter() {
    return new TransactionalDdlSqliteAdapter();
  }
}

/** How long a write waits for another process's lock before it fails (SQLite), or a statement may run (Postgres). */
const DEFAULT_BUSY_WAIT_MS = 10_000;

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
  sqlite.pragma(`busy_timeout = ${Math.min(opts.busyTimeoutMs ?? DEFAULT_BUSY_WAIT_MS, SYNC_BUSY_WAIT_MS)}`);
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
    // pg is imported when the first connection is wanted, so a SQLite deployment never loads it (README: Performance, workload 5).
    const pool = async () => {
      const { default: pg } = await import('pg');
      const made = new pg.Pool({
        connectionString: target,
        max: opts.poolSize ?? 10,
        // A writer waiting on a lock longer than this fails instead of hanging a heartbeat forever.
        statement_timeout: opts.busyTimeoutMs ?? 30_000,
        // A server that is down fails a connect attempt in seconds, not at the OS's TCP timeout.
        connectionTimeoutMillis: 5_000,
      });
      // An idle client that loses its server must not crash the process.
      made.on('error', () => undefined);
      return made;
    };
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }
  return new Kysely<Database>({
    dialect: new ImmediateSqliteDialect(openSqlite(target, opts), opts.busyTimeoutMs ?? DEFAULT_BUSY_WAIT_MS),
  });
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
