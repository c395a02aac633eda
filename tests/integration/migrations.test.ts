import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Kysely, Migrator, sql } from 'kysely';
import { createDb, migrateToLatest } from '../../src/db/database.js';
import { migrations } from '../../src/db/migrations/index.js';
import { tempDir } from '../support/tempDb.js';
import { appOverDb } from '../support/appOverDb.js';
import { sampleSpec } from '../support/jobs.js';
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
        expect.arrayContaining([
          'jobs',
          'job_steps',
          'job_logs',
          'notifications',
          'audit_log',
          'idempotency_keys',
          'sessions',
          'users',
          'api_tokens',
        ]),
      );
      const mode = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(db);
      expect(mode.rows[0].journal_mode).toBe('wal');
    } finally {
      await db.destroy();
    }
  });

  it('give jobs from before people existed to the local admin, who can still act on them; old sessions end', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const db = createDb(path.join(dir, 'app.db'));
    try {
      const before = new Migrator({ db, provider: { getMigrations: async () => migrations } });
      expect((await before.migrateTo('0003_step_invocations')).error).toBeUndefined();
      const now = new Date().toISOString();
      await (db as Kysely<any>)
        .insertInto('jobs')
        .values({
          id: 'jold0000001',
          name: 'from-before',
          status: 'draft',
          requester_email: 'a@example.com',
          region: 'us-east-1',
          instance_type: 't3.micro',
          auth_method: 'assume_role',
          spec_json: JSON.stringify(sampleSpec({ name: 'from-before' })),
          created_by: 'api-token',
          created_at: now,
          updated_at: now,
        })
        .execute();
      await (db as Kysely<any>)
        .insertInto('sessions')
        .values({ id_hash: 'h-old', user: 'admin', created_at: now, expires_at: new Date(Date.now() + 3_600_000).toISOString() })
        .execute();

      expect(await migrateToLatest(db)).toContain('0004_people');
      expect(await db.selectFrom('jobs').select('owner_id').where('id', '=', 'jold0000001').executeTakeFirst()).toEqual({
        owner_id: 'local-admin',
      });
      expect(await db.selectFrom('users').select(['id', 'subject', 'role_override']).execute()).toEqual([
        { id: 'local-admin', subject: 'local', role_override: 'admin' },
      ]);
      expect((await db.selectFrom('sessions').select('revoked_at').executeTakeFirst())?.revoked_at).not.toBeNull();

      // The local admin signs in as before and may start the old job; the page offers it.
      const { app, close } = appOverDb(db, { APP_ADMIN_USER: 'root', APP_ADMIN_PASS: 'pw-0123456789' });
      try {
        const auth = { authorization: `Basic ${Buffer.from('root:pw-0123456789').toString('base64')}` };
        const job = (await (await app.request('/api/jobs/jold0000001', { headers: auth })).json()) as { actions: string[] };
        expect(job.actions).toEqual(['run']);
        expect((await db.selectFrom('users').select('name').where('id', '=', 'local-admin').executeTakeFirst())?.name).toBe(
          'root',
        );
      } finally {
        await close();
      }
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
