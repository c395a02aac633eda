import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import pg from 'pg';
import { createDb, migrateToLatest, type Db } from '../../src/db/database.js';

export function tempDir(prefix = 'prov-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A real SQLite file with every migration applied, removed by the caller's `cleanup`. */
export async function createTempDb(): Promise<{ db: Db; file: string; dir: string; cleanup: () => Promise<void> }> {
  const dir = tempDir();
  const file = path.join(dir, 'app.db');
  const db = createDb(file);
  await migrateToLatest(db);
  return {
    db,
    file,
    dir,
    cleanup: async () => {
      await db.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type DbKind = 'sqlite' | 'postgres';

/**
 * The databases the database tests run on: SQLite always, Postgres when
 * TEST_POSTGRES_URL names a server: the one given, or the throw-away one
 * globalSetup starts when it is unset and PostgreSQL is installed.
 */
export function dbKinds(): DbKind[] {
  return process.env.TEST_POSTGRES_URL ? ['sqlite', 'postgres'] : ['sqlite'];
}

export interface TempDb {
  kind: DbKind;
  db: Db;
  /** What createDb opens: the SQLite file, or the database's postgres:// URL. */
  target: string;
  /** Postgres: another pool to the same database, as another process would have. SQLite: the same connection. */
  open(): Db;
  cleanup: () => Promise<void>;
}

/** A fresh, migrated database of the given kind: a file in a temp dir, or a new Postgres database. */
export async function createTempDbOf(kind: DbKind): Promise<TempDb> {
  if (kind === 'sqlite') {
    const t = await createTempDb();
    // better-sqlite3 is synchronous: a second connection in this process waiting on a lock would
    // block the one holding it. Other processes are the other writers; here they share the one.
    return { kind, db: t.db, target: t.file, open: () => t.db, cleanup: t.cleanup };
  }
  const admin = process.env.TEST_POSTGRES_URL;
  if (!admin) throw new Error('TEST_POSTGRES_URL is not set');
  const name = `prov_test_${crypto.randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`create database ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const target = url.toString();
  const db = createDb(target, { poolSize: 4 });
  await migrateToLatest(db);
  const extra: Db[] = [];
  return {
    kind,
    db,
    target,
    open: () => {
      const other = createDb(target, { poolSize: 4 });
      extra.push(other);
      return other;
    },
    cleanup: async () => {
      await Promise.all([db, ...extra].map((d) => d.destroy().catch(() => undefined)));
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
