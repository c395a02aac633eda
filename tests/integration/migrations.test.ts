import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createDb, migrateToLatest } from '../../src/db/database.js';
import { migrations } from '../../src/db/migrations/index.js';
import { tempDir } from '../support/tempDb.js';
import { spawn } from 'node:child_process';
import { childEnv, collectOutput, ROOT, runTsx, TSX, waitExit, waitFor } from '../support/processes.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('migrations', () => {
  it('build a fresh database and are a no-op the second time', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const db = createDb(path.join(dir, 'app.db'));
    try {
      expect(await migrateToLatest(db)).toEqual(Object.keys(migrations));
      expect(await migrateToLatest(db)).toEqual([]);
      const tables = await db.introspection.getTables();
      expect(tables.map((t) => t.name)).toEqual(
        expect.arrayContaining(['jobs', 'job_steps', 'job_logs', 'notifications', 'audit_log', 'idempotency_keys', 'sessions']),
      );
      const mode = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(db);
      expect(mode.rows[0].journal_mode).toBe('wal');
    } finally {
      await db.destroy();
    }
  });

  it('survive several processes migrating the same file at once', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = path.join(dir, 'app.db');
    const goFile = path.join(dir, 'go');
    const children = [0, 1, 2, 3].map(() =>
      spawn(TSX, [path.join(ROOT, 'tests/support/migrateChild.ts'), file, goFile], {
        cwd: ROOT,
        env: childEnv({}),
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    const outputs = children.map(collectOutput);
    await waitFor('every child ready', () => outputs.every((o) => o.text().includes('ready')), 60_000, 20);
    fs.writeFileSync(goFile, '');
    const codes = await Promise.all(children.map((c) => waitExit(c)));
    expect(codes, outputs.map((o) => o.text()).join('\n')).toEqual([0, 0, 0, 0]);
    const applied = outputs.filter((o) => o.text().includes(`applied: ${Object.keys(migrations).join(', ')}`)).length;
    expect(applied).toBe(1);
    const db = createDb(file);
    try {
      const rows = await db
        .selectFrom('kysely_migration' as never)
        .selectAll()
        .execute();
      expect(rows).toHaveLength(Object.keys(migrations).length);
    } finally {
      await db.destroy();
    }
  });

  it('npm run migrate applies pending migrations, then reports the database up to date', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const env = { DATA_DIR: dir };
    for (const expected of [`applied: ${Object.keys(migrations).join(', ')}`, 'database is up to date']) {
      const child = runTsx('src/db/migrateCli.ts', env);
      const out = collectOutput(child);
      expect(await waitExit(child), out.text()).toBe(0);
      expect(out.text()).toContain(expected);
    }
  });
});
