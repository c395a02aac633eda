import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createDb, migrateToLatest, type Db } from '../../src/db/database.js';
import { dialectOf } from '../../src/db/dialect.js';
import { migrations } from '../../src/db/migrations/index.js';
import {
  beginStepAttempt,
  closeRunningSteps,
  countJobsByStatus,
  finishStep,
  getJob,
  insertJob,
  listJobs,
  listSteps,
  startStep,
  transitionJob,
  updateJob,
} from '../../src/db/jobs.js';
import { appendLogLines, countLogLines, lastLogLines, listLogLines, maxLogSeq, type LogLineInput } from '../../src/db/logs.js';
import { getJobNotification, insertNotificationIfAbsent, transitionNotification } from '../../src/db/notifications.js';
import { claimIdempotencyKey, completeIdempotencyKey } from '../../src/db/idempotency.js';
import { listAudit, recordAudit } from '../../src/db/audit.js';
import { insertSession, pruneExpiredSessions, revokeSession, sessionUser } from '../../src/db/sessions.js';
import { LOCAL_ADMIN_ID, upsertSignedInUser } from '../../src/db/users.js';
import {
  accountsByRoleArn,
  addMember,
  countLiveJobs,
  getAccount,
  insertAccount,
  insertTeam,
  newAccountId,
  newTeamId,
  rotateExternalId,
  syncGroupMemberships,
  teamsOfUser,
  usableAccounts,
} from '../../src/db/teams.js';
import { renderMetrics } from '../../src/observability/metrics.js';
import { parseConfig } from '../../src/config.js';
import { createTempDbOf, dbKinds, type TempDb } from '../support/tempDb.js';
import { testActor } from '../support/jobs.js';

/**
 * The database modules on every database the service supports: SQLite
 * always, Postgres when TEST_POSTGRES_URL is set. Same migrations, same
 * queries; the concurrency cases use separate connections, as separate
 * processes (web, workers) would.
 */

let n = 0;
function newJob(overrides: Partial<Parameters<typeof insertJob>[1]> = {}) {
  n += 1;
  const now = new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString();
  return {
    id: `job-${process.pid}-${n}`.toLowerCase(),
    name: `demo-web-${n}`,
    status: 'draft',
    requester_email: 'alice@example.com',
    region: 'us-east-1',
    instance_type: 't3.micro',
    auth_method: 'assume_role',
    spec_json: '{}',
    created_at: now,
    updated_at: now,
    ...overrides,
  };
}

function lines(step: string, attempt: number, from: number, count: number): LogLineInput[] {
  return Array.from({ length: count }, (_, i) => ({
    step,
    attempt,
    stream: 'stdout',
    lineNo: from + i,
    line: `${step} line ${from + i}`,
    ts: new Date().toISOString(),
  }));
}

it('DATABASE_URL selects the database', () => {
  expect(parseConfig({ DATABASE_URL: 'postgres://app:pw@db:5432/prov' }).databasePath).toBe('postgres://app:pw@db:5432/prov');
  expect(parseConfig({ DATABASE_URL: 'sqlite:./x.db' }, '/srv').databasePath).toBe('/srv/x.db');
  expect(() => parseConfig({ DATABASE_URL: 'mysql://db/prov' })).toThrow(/DATABASE_URL/);
});

describe.each(dbKinds())('on %s', (kind) => {
  let t: TempDb;
  let db: Db;
  beforeAll(async () => {
    t = await createTempDbOf(kind);
    db = t.db;
  }, 60_000);
  afterAll(async () => {
    await t?.cleanup();
  });

  it('uses the dialect it was asked for', () => {
    expect(dialectOf(db)).toBe(kind);
  });

  describe('migrations', () => {
    it('are applied once, and a second run is a no-op', async () => {
      expect(await migrateToLatest(db)).toEqual([]);
      const tables = (await db.introspection.getTables()).map((x) => x.name);
      expect(tables).toEqual(
        expect.arrayContaining(['jobs', 'job_steps', 'job_logs', 'notifications', 'audit_log', 'idempotency_keys']),
      );
    });

    it('survive several connections migrating a fresh database at once', async (ctx) => {
      if (kind === 'sqlite')
        ctx.skip('one connection per process: tests/integration/migrations.test.ts runs this across processes');
      const target = t.target.replace(/\/([^/]+)$/, '/$1_fresh');
      await sql.raw(`create database ${target.split('/').pop()}`).execute(db);
      const dbs = [0, 1, 2].map(() => createDb(target));
      try {
        const applied = await Promise.all(dbs.map((d) => migrateToLatest(d)));
        expect(applied.flat()).toEqual(Object.keys(migrations));
      } finally {
        await Promise.all(dbs.map((d) => d.destroy()));
        await sql.raw(`drop database ${target.split('/').pop()} with (force)`).execute(db);
      }
    });
  });

  describe('jobs and steps', () => {
    it('insert, read, update and count', async () => {
      const row = await insertJob(db, newJob({ status: 'running' }));
      expect(row.has_resources).toBe(0);
      await updateJob(db, row.id, { step: 'plan', has_resources: 1 });
      const back = await getJob(db, row.id);
      expect(back).toMatchObject({ step: 'plan', has_resources: 1, status: 'running' });
      const counts = await countJobsByStatus(db);
      expect(counts.running).toBeGreaterThanOrEqual(1);
      expect(typeof counts.running).toBe('number');
    });

    it('compare-and-set: of concurrent transitions from separate connections, exactly one wins', async () => {
      const row = await insertJob(db, newJob());
      const others = [t.open(), t.open(), t.open()];
      const won = await Promise.all(others.map((o) => transitionJob(o, row.id, ['draft'], { status: 'running' })));
      expect(won.filter(Boolean)).toHaveLength(1);
    });

    it('search ignores case and treats % and _ literally; pages by cursor', async () => {
      const prefix = `Search${kind}`;
      for (let i = 0; i < 5; i++) await insertJob(db, newJob({ name: `${prefix}-web-${i}` }));
      await insertJob(db, newJob({ name: `${prefix}_100%` }));
      const all = await listJobs(db, { search: prefix.toUpperCase() });
      expect(all.jobs).toHaveLength(6);
      expect((await listJobs(db, { search: `${prefix}_1` })).jobs.map((j) => j.name)).toEqual([`${prefix}_100%`]);
      expect((await listJobs(db, { search: '100%' })).jobs.map((j) => j.name)).toEqual([`${prefix}_100%`]);
      const page1 = await listJobs(db, { search: prefix, limit: 4 });
      const page2 = await listJobs(db, { search: prefix, limit: 4, cursor: page1.nextCursor! });
      expect(page1.jobs).toHaveLength(4);
      expect(page2.jobs).toHaveLength(2);
      expect(page2.nextCursor).toBeNull();
      expect(new Set([...page1.jobs, ...page2.jobs].map((j) => j.id)).size).toBe(6);
    });

    it('records a step attempt once however often it is started or finished', async () => {
      const row = await insertJob(db, newJob());
      await startStep(db, row.id, 'init', 1);
      await startStep(db, row.id, 'init', 1);
      await finishStep(db, row.id, 'init', 1, 'failed', { error: 'boom' });
      await startStep(db, row.id, 'init', 2);
      await finishStep(db, row.id, 'init', 2, 'succeeded');
      const steps = await listSteps(db, row.id);
      expect(steps.map((s) => [s.step, s.attempt, s.state, s.error])).toEqual([
        ['init', 1, 'failed', 'boom'],
        ['init', 2, 'succeeded', null],
      ]);
      expect(typeof steps[0].id).toBe('number');
    });

    it('opens attempts per invocation: lost ones become interrupted, only failed ones count, numbers go on', async () => {
      const row = await insertJob(db, newJob());
      const open = (invocation: string, temporalAttempt: number) =>
        beginStepAttempt(db, { jobId: row.id, step: 'apply', invocation, temporalAttempt, lostError: 'lost' });
      expect(await open('run1:7', 1)).toEqual({ attempt: 1, jobErrors: 0 });
      await finishStep(db, row.id, 'apply', 1, 'failed', { error: 'terraform apply failed' });
      // Attempt 2 runs and its worker dies: the row stays `running` until attempt 3 opens.
      expect(await open('run1:7', 2)).toEqual({ attempt: 2, jobErrors: 1 });
      expect(await open('run1:7', 3)).toEqual({ attempt: 3, jobErrors: 1 });
      // Opening the same attempt again (a redelivered task) changes nothing.
      expect(await open('run1:7', 3)).toEqual({ attempt: 3, jobErrors: 1 });
      await finishStep(db, row.id, 'apply', 3, 'succeeded');
      // A later invocation of the step (a destroy asked for again) numbers on, and counts afresh.
      expect(await open('run2:1', 1)).toEqual({ attempt: 4, jobErrors: 0 });
      const steps = await listSteps(db, row.id);
      expect(steps.map((s) => [s.attempt, s.state, s.error, s.invocation])).toEqual([
        [1, 'failed', 'terraform apply failed', 'run1:7'],
        [2, 'interrupted', 'lost', 'run1:7'],
        [3, 'succeeded', null, 'run1:7'],
        [4, 'running', null, 'run2:1'],
      ]);
      // When the job ends, what still says running was lost.
      expect(await closeRunningSteps(db, row.id, 'job ended')).toBe(1);
      expect((await listSteps(db, row.id)).at(-1)).toMatchObject({ state: 'interrupted', error: 'job ended' });
    });
  });

  describe('job logs', () => {
    it('number lines gaplessly and skip a redelivered batch', async () => {
      const row = await insertJob(db, newJob());
      expect(await appendLogLines(db, row.id, lines('plan', 1, 1, 3))).toBe(3);
      expect(await appendLogLines(db, row.id, lines('plan', 1, 1, 3))).toBe(3);
      expect(await appendLogLines(db, row.id, lines('plan', 1, 4, 2))).toBe(5);
      const stored = await listLogLines(db, row.id);
      expect(stored.map((l) => l.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(await countLogLines(db, row.id)).toBe(5);
      expect(await maxLogSeq(db, row.id)).toBe(5);
      expect((await lastLogLines(db, row.id, 2)).map((l) => l.seq)).toEqual([4, 5]);
    });

    it('store a batch cut into several inserts whole, in order, every column intact, and a redelivered one once', async () => {
      const row = await insertJob(db, newJob());
      // 1,300 = 512 + 512 + 256 + 16 + 4: lines at every edge between the inserts a batch is cut into.
      const batch = lines('apply', 1, 1, 1300).map((l, i) => ({
        ...l,
        stream: i % 7 === 0 ? 'stderr' : 'stdout',
        line: i % 100 === 0 ? `odd ? $1 '' "q" \u00e9 \u{1f600} ${i}` : l.line,
        ts: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i)).toISOString(),
      }));
      expect(await appendLogLines(db, row.id, batch)).toBe(1300);
      // Redelivered out of order, overlapping, with a duplicate inside: only the new line is stored.
      const again = [batch[1299], batch[3], { ...batch[0], lineNo: 1301, line: 'new' }, batch[3]];
      expect(await appendLogLines(db, row.id, again)).toBe(1301);
      const stored = await listLogLines(db, row.id, { limit: 2000 });
      expect(stored.map((l) => l.seq)).toEqual(stored.map((_, i) => i + 1));
      expect(stored.map((l) => [l.ts, l.step, l.attempt, l.stream, l.line_no, l.line])).toEqual(
        [...batch, again[2]].map((l) => [l.ts, l.step, l.attempt, l.stream, l.lineNo, l.line]),
      );
    });

    it('number concurrent writers from separate connections without a gap or a clash', async () => {
      const row = await insertJob(db, newJob());
      const writers = [t.open(), t.open(), t.open()];
      await Promise.all(
        writers.map(async (w, i) => {
          for (let b = 0; b < 5; b++) await appendLogLines(w, row.id, lines(`step${i}`, 1, b * 20 + 1, 20));
        }),
      );
      const stored = await listLogLines(db, row.id, { limit: 1000 });
      expect(stored).toHaveLength(300);
      expect(stored.map((l) => l.seq)).toEqual(stored.map((_, i) => i + 1));
    }, 60_000);
  });

  describe('notifications, idempotency keys and the audit log', () => {
    it('store a notification once per job and event, and change it by compare-and-set', async () => {
      const row = await insertJob(db, newJob());
      const note = {
        job_id: row.id,
        event: 'succeeded',
        recipient: 'alice@example.com',
        subject: 's',
        html: '<p>h</p>',
        text: 't',
        provider: 'outbox',
        created_at: new Date().toISOString(),
      };
      await insertNotificationIfAbsent(db, note);
      await insertNotificationIfAbsent(db, { ...note, subject: 'other' });
      const stored = await getJobNotification(db, row.id, 'succeeded');
      expect(stored?.subject).toBe('s');
      expect(await transitionNotification(db, stored!.id, ['pending'], { status: 'sent' })).toBe(true);
      expect(await transitionNotification(db, stored!.id, ['pending'], { status: 'sent' })).toBe(false);
    });

    it('let exactly one of concurrent identical requests claim an idempotency key', async () => {
      const conns = [t.open(), t.open(), t.open(), t.open()];
      const claims = await Promise.all(
        conns.map((c) => claimIdempotencyKey(c, { scope: 'POST /api/jobs', key: `k-${kind}`, bodyHash: 'h' })),
      );
      expect(claims.filter((c) => c.state === 'claimed')).toHaveLength(1);
      expect(claims.filter((c) => c.state === 'in_progress')).toHaveLength(3);
      await completeIdempotencyKey(db, 'POST /api/jobs', `k-${kind}`, 201, '{"id":"x"}');
      expect(await claimIdempotencyKey(db, { scope: 'POST /api/jobs', key: `k-${kind}`, bodyHash: 'h' })).toEqual({
        state: 'completed',
        statusCode: 201,
        responseJson: '{"id":"x"}',
      });
      expect(await claimIdempotencyKey(db, { scope: 'POST /api/jobs', key: `k-${kind}`, bodyHash: 'other' })).toEqual({
        state: 'mismatch',
      });
    });

    it('list audit entries newest first', async () => {
      await recordAudit(db, { actor: testActor('alice', { ip: '10.0.0.1' }), action: 'job.create', jobId: 'j1' });
      await recordAudit(db, { actor: testActor('bob'), action: 'job.run', jobId: 'j1' });
      const entries = await listAudit(db, { jobId: 'j1' });
      expect(entries.map((e) => e.action)).toEqual(['job.run', 'job.create']);
      expect(typeof entries[0].id).toBe('number');
    });

    it('feed the jobs-by-status gauge', async () => {
      const text = await renderMetrics({ db, includeSdk: false });
      expect(text).toMatch(/^provisioning_jobs\{status="draft"\} \d+$/m);
    });
  });

  describe('teams', () => {
    it('keep members in step with groups, find accounts by role, rotate external IDs, and count live environments', async () => {
      const user = await upsertSignedInUser(
        db,
        { subject: `oidc:t-${kind}`, email: null, name: 'tee', mappedRole: 'requester' },
        new Date(),
      );
      const t1 = newTeamId();
      const t2 = newTeamId();
      const settings = (name: string, group: string | null) => ({
        name: `${name}-${kind}`,
        oidc_group: group,
        allowed_regions: null,
        allowed_instance_types: null,
        max_ttl_hours: null,
        max_live_jobs: 2,
        approval_policy: 'never',
      });
      await insertTeam(db, t1, settings('grouped', `devs-${kind}`), new Date());
      await insertTeam(db, t2, settings('by-hand', null), new Date());
      await addMember(db, t2, user.id, 'admin');
      await syncGroupMemberships(db, user.id, [`devs-${kind}`]);
      expect((await teamsOfUser(db, user.id)).map((t) => t.id).sort()).toEqual([t1, t2].sort());
      // Leaving the group leaves its team, not the one an admin added them to.
      await syncGroupMemberships(db, user.id, []);
      expect((await teamsOfUser(db, user.id)).map((t) => t.id)).toEqual([t2]);

      const acct = newAccountId();
      const roleArn = `arn:aws:iam::123456789012:role/prov-${kind}`;
      await insertAccount(
        db,
        { id: acct, team_id: t2, label: 'dev', account_id: '123456789012', role_arn: roleArn, external_id: 'one' },
        new Date(),
      );
      expect((await accountsByRoleArn(db, roleArn)).map((a) => a.id)).toEqual([acct]);
      expect((await usableAccounts(db, user.id)).map((a) => [a.id, a.team_name])).toEqual([[acct, `by-hand-${kind}`]]);
      const until = new Date(Date.now() + 3_600_000);
      await rotateExternalId(db, acct, 'two', until, new Date());
      expect(await getAccount(db, acct)).toMatchObject({
        external_id: 'two',
        previous_external_id: 'one',
        previous_valid_until: until.toISOString(),
      });

      for (const [status, hasResources] of [
        ['succeeded', 1],
        ['failed', 1],
        ['failed', 0],
        ['destroyed', 0],
        ['draft', 0],
      ] as const) {
        await insertJob(db, newJob({ status, has_resources: hasResources, team_id: t2, team_account_id: acct }));
      }
      expect(await countLiveJobs(db, t2)).toBe(2);
    });
  });

  describe('sessions', () => {
    it('are active until revoked or expired, for the user they were made for, and expired ones are pruned', async () => {
      const now = new Date(Date.UTC(2026, 5, 1, 12));
      const later = new Date(now.getTime() + 3_600_000);
      const session = (idHash: string) => ({
        idHash,
        userId: LOCAL_ADMIN_ID,
        userName: 'admin',
        createdAt: now,
        expiresAt: later,
      });
      await insertSession(db, session(`a-${kind}`));
      await insertSession(db, session(`b-${kind}`));
      const active = async (idHash: string, at: Date, userId = LOCAL_ADMIN_ID) =>
        (await sessionUser(db, idHash, userId, at))?.id === LOCAL_ADMIN_ID;
      expect(await active(`a-${kind}`, now)).toBe(true);
      expect(await active(`a-${kind}`, now, 'someone-else')).toBe(false);
      expect(await active(`nope-${kind}`, now)).toBe(false);
      await revokeSession(db, `a-${kind}`, now);
      expect(await active(`a-${kind}`, now)).toBe(false);
      expect(await active(`b-${kind}`, now)).toBe(true);
      expect(await active(`b-${kind}`, later)).toBe(false);
      await pruneExpiredSessions(db, later);
      const left = await db
        .selectFrom('sessions')
        .select('id_hash')
        .where('id_hash', 'in', [`a-${kind}`, `b-${kind}`])
        .execute();
      expect(left).toEqual([]);
    });
  });
});
