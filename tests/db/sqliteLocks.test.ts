import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDb, migrateToLatest, type Db } from '../../src/db/database.js';
import { insertJob, updateJob, getJob } from '../../src/db/jobs.js';
import { tempDir } from '../support/tempDb.js';
import { ROOT } from '../support/processes.js';

/**
 * Another process holding SQLite's write lock: a writer here waits for it
 * without stalling its event loop (heartbeats, requests and timers go on),
 * and gives up with SQLITE_BUSY once its wait is over.
 */

const children: ChildProcess[] = [];
const dbs: Db[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of dbs.splice(0)) await d.destroy();
});

/** A second process that takes the write lock, says so, and keeps it for `holdMs`. */
async function holdLock(file: string, holdMs: number): Promise<void> {
  const script = `
    const db = require('better-sqlite3')(process.argv[1]);
    db.exec('BEGIN IMMEDIATE');
    console.log('locked');
    setTimeout(() => { db.exec('COMMIT'); db.close(); }, Number(process.argv[2]));`;
  const child = spawn(process.execPath, ['-e', script, file, String(holdMs)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => String(d).includes('locked') && resolve());
    child.once('exit', (code) => reject(new Error(`lock holder exited (${code})`)));
  });
}

async function jobDb(busyTimeoutMs?: number) {
  const file = path.join(tempDir('prov-locks-'), 'app.db');
  const db = createDb(file, busyTimeoutMs !== undefined ? { busyTimeoutMs } : {});
  dbs.push(db);
  await migrateToLatest(db);
  const now = new Date().toISOString();
  await insertJob(db, {
    id: 'jlocks',
    name: 'locks',
    status: 'running',
    requester_email: 'a@example.com',
    region: 'us-east-1',
    instance_type: 't3.micro',
    auth_method: 'assume_role',
    spec_json: '{}',
    created_at: now,
    updated_at: now,
  });
  return { db, file };
}

function ticker() {
  let ticks = 0;
  let longest = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    ticks++;
  }, 20);
  return {
    stop: () => {
      clearInterval(timer);
      return { ticks, longest };
    },
  };
}

describe('SQLite write lock held by another process', () => {
  it('a write waits for it without blocking the event loop, then succeeds', async () => {
    const { db, file } = await jobDb();
    await holdLock(file, 1_500);
    const t = ticker();
    const started = performance.now();
    await updateJob(db, 'jlocks', { step: 'apply' });
    const waited = performance.now() - started;
    const { ticks, longest } = t.stop();
    expect(waited).toBeGreaterThan(1_000);
    expect((await getJob(db, 'jlocks'))?.step).toBe('apply');
    // Timers kept firing while the write waited: no gap near the lock's length.
    expect(ticks).toBeGreaterThan(20);
    expect(longest).toBeLessThan(500);
  });

  it('a write that waited its whole time fails with SQLITE_BUSY', async () => {
    const { db, file } = await jobDb(600);
    await holdLock(file, 3_000);
    const t = ticker();
    const started = performance.now();
    const err = await updateJob(db, 'jlocks', { step: 'plan' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const { longest } = t.stop();
    expect((err as { code?: string })?.code).toBe('SQLITE_BUSY');
    expect(performance.now() - started).toBeGreaterThan(500);
    expect(performance.now() - started).toBeLessThan(2_500);
    expect(longest).toBeLessThan(500);
  });
});
