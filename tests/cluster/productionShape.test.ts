import os from 'node:os';
import type { ChildProcess } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mailsPerRecipient, startServiceProcesses, type ServiceProcesses } from '../support/serviceProcesses.js';
import { clusterMissing, startTemporalCluster, type TemporalCluster } from '../support/temporalCluster.js';
import { descendants, waitFor } from '../support/processes.js';
import {
  createAndRun,
  getJob,
  settledSteps,
  sleep,
  stateAddresses,
  waitForApplyLine,
  waitForJobs,
  watchLogs,
} from '../faults/support.js';

/**
 * The shape docker-compose.yml deploys, without Docker: the real Temporal
 * server (not the dev server) on Postgres, its schema set up by Temporal's SQL
 * tool; the app's database in the same Postgres; two workers and two web
 * processes, each the service's own entry point. The fault tests of the
 * reliability issue run again on it: workers SIGKILLed mid-apply, the
 * Temporal server SIGKILLed and restarted, Postgres stopped and started.
 *
 * One cluster for the file (its start is the slow part); the tests run in
 * order, and the last checks every job of the file.
 */

const missing = clusterMissing();
if (missing) console.warn(`tests/cluster skipped: ${missing}`);

/** The apply sleeps, so that a kill lands in the middle of one; two extra resources to count in the state. */
const SANDBOX = { sandbox_sleep_seconds: { apply: 6 }, sandbox_resource_count: 2 };
const FINAL = ['succeeded', 'failed', 'cancelled'];

describe.skipIf(missing)('the production shape: a Temporal server on Postgres, two workers, two web processes', () => {
  let cluster: TemporalCluster;
  let svc: ServiceProcesses;
  let temporal: Client;
  /** Every job the file started, with its requester. */
  const jobs: { id: string; email: string }[] = [];
  /** Temporal's worker identity (`pid@host`, the SDK's default) → which worker process that was. */
  const workerOf = new Map<string, string>();
  let workersStarted = 0;

  async function startWorker(): Promise<ChildProcess> {
    const child = await svc.startWorker();
    const label = `worker-${++workersStarted}`;
    // tsx runs the worker in a child node process: the identity carries that one's pid.
    for (const pid of [child.pid!, ...descendants(child.pid!)]) workerOf.set(`${pid}@${os.hostname()}`, label);
    return child;
  }

  /** The service as seen through web process `web`. */
  const via = (web: number): ServiceProcesses => ({ ...svc, api: (p, init) => svc.api(p, init, web) });

  async function start(prefix: string, n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const email = `${prefix}-${i}@example.com`;
      // Alternately through each web process.
      const id = await createAndRun(via(i % 2), `${prefix}-${i}`, email);
      jobs.push({ id, email });
      ids.push(id);
    }
    return ids;
  }

  /** Which worker process started each activity of the jobs' workflows, from Temporal's own history. */
  async function activityWorkers(ids: string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const id of ids) {
      const { workflowId } = (await (await svc.api(`/api/jobs/${id}`)).json()) as { workflowId: string };
      const history = await temporal.workflow.getHandle(workflowId).fetchHistory();
      for (const e of history.events ?? []) {
        const identity = e.activityTaskStartedEventAttributes?.identity;
        if (!identity) continue;
        const worker = workerOf.get(identity) ?? `unknown ${identity}`;
        counts.set(worker, (counts.get(worker) ?? 0) + 1);
      }
    }
    return counts;
  }

  /** GET /health of web process `web`: the HTTP status (0: no answer) and what it says of the database and Temporal. */
  async function health(web: number): Promise<{ http: number; db?: string; temporal?: string }> {
    try {
      const res = await fetch(`${svc.webUrlOf(web)}/health`, { signal: AbortSignal.timeout(5_000) });
      const body = (await res.json()) as { db: string; temporal: string };
      return { http: res.status, db: body.db, temporal: body.temporal };
    } catch (err) {
      return { http: 0, db: String(err) };
    }
  }

  /** Waits until web process `web`'s /health says what `ok` wants, naming its last answer when it never does. */
  async function waitForHealth(
    web: number,
    what: string,
    ok: (h: Awaited<ReturnType<typeof health>>) => boolean,
    timeoutMs: number,
  ) {
    let last: Awaited<ReturnType<typeof health>> | undefined;
    const probe = async () => {
      last = await health(web);
      return ok(last);
    };
    await waitFor(`web ${web} to report ${what}`, probe, timeoutMs, 250).catch((err) => {
      throw new Error(`${(err as Error).message}; its /health last said ${JSON.stringify(last)}`);
    });
  }

  /** Every job succeeded, each resource once in its state, no attempt failed on the job's account, no shown line lost. */
  async function expectSucceeded(ids: string[], readers: ReturnType<typeof watchLogs>[] = []) {
    const done = await waitForJobs(svc, ids, FINAL, 240_000).catch((err) => {
      throw new Error(`${(err as Error).message}\nTemporal's output ends:\n${cluster.output().slice(-3_000)}`);
    });
    for (const job of done) expect(job.status, `${job.id}: ${job.error}`).toBe('succeeded');
    for (const logs of readers) {
      await logs.stop();
      expect(logs.seenCount()).toBeGreaterThan(0);
      await logs.check();
    }
    for (const id of ids) {
      const addresses = stateAddresses(svc.jobsWorkdir, id);
      expect(new Set(addresses).size, addresses.join(', ')).toBe(addresses.length);
      expect(addresses.filter((a) => a === 'terraform_data.instance')).toHaveLength(1);
      expect(addresses.filter((a) => a.startsWith('terraform_data.extra'))).toHaveLength(2);
      const steps = await settledSteps(svc, id);
      expect(steps.filter((s) => s.state === 'failed')).toEqual([]);
    }
  }

  beforeAll(async () => {
    cluster = await startTemporalCluster({ cliPath: inject('temporalCliPath') });
    const databaseUrl = await cluster.createDatabase('provisioning');
    svc = await startServiceProcesses({
      databaseUrl,
      sandbox: SANDBOX,
      temporal: { address: cluster.address, restart: (downMs) => cluster.restart(downMs) },
    });
    temporal = new Client({ connection: await Connection.connect({ address: cluster.address }), namespace: cluster.namespace });
    // Web first: each migrates the database at start, as the workers do; two at once must not trip over each other.
    await Promise.all([svc.startWeb({}, 0), svc.startWeb({}, 1)]);
    await Promise.all([startWorker(), startWorker()]);
  }, 240_000);

  afterAll(async () => {
    await temporal?.connection.close().catch(() => undefined);
    await svc?.stop();
    await cluster?.stop();
  });

  it('runs the jobs started through either web process on both workers, each web seeing every job', async () => {
    const ids = await start('cluster-spread', 4);
    // One database behind both: each web answers for the jobs the other started.
    for (const id of ids) {
      for (const web of [0, 1]) expect((await svc.api(`/api/jobs/${id}`, {}, web)).status).toBe(200);
    }
    await expectSucceeded(ids);
    const byWorker = await activityWorkers(ids);
    expect([...byWorker.keys()].sort()).toEqual(['worker-1', 'worker-2']);
  }, 300_000);

  it('finishes every job, each resource once and every shown log line kept, with workers SIGKILLed mid-apply again and again', async () => {
    const ids = await start('cluster-kill', 4);
    // A live reader on each web process: what either showed must survive every kill.
    const readers = [watchLogs(svc, ids), watchLogs(via(1), ids)];
    const applyRunningSince = async (since: string) =>
      (await svc.db
        .selectFrom('job_steps')
        .select('id')
        .where('job_id', 'in', ids)
        .where('step', '=', 'apply')
        .where('state', '=', 'running')
        .where('started_at', '>', since)
        .executeTakeFirst()) !== undefined;

    const rounds = 3;
    for (let round = 0; round < rounds; round++) {
      // An apply attempt begun by the workers now running, killed a moment into it with both workers.
      const since = new Date().toISOString();
      await waitFor('an apply attempt on the current workers', () => applyRunningSince(since), 90_000, 200);
      await sleep(1_000 + Math.random() * 1_500);
      await svc.killWorkers();
      await Promise.all([startWorker(), startWorker()]);
    }

    await expectSucceeded(ids, readers);
    let interruptedApplies = 0;
    for (const id of ids) {
      interruptedApplies += (await settledSteps(svc, id)).filter((s) => s.step === 'apply' && s.state === 'interrupted').length;
    }
    // Each round killed at least one apply in its middle (or this test proved nothing).
    expect(interruptedApplies).toBeGreaterThanOrEqual(rounds);
  }, 420_000);

  it('finishes the jobs when the Temporal server is SIGKILLed mid-apply and started again', async () => {
    const ids = await start('cluster-temporal', 2);
    const logs = watchLogs(svc, ids);
    await waitForApplyLine(svc, ids);
    // Down past the apply's 10 s heartbeat timeout, counting its start: the attempts time out when it is back.
    const restarting = cluster.restart(8_000);
    for (const web of [0, 1]) await waitForHealth(web, 'Temporal down', (h) => h.http === 503 && h.temporal === 'down', 8_000);
    await restarting;
    for (const web of [0, 1]) await waitForHealth(web, 'Temporal back', (h) => h.http === 200, 60_000);
    await expectSucceeded(ids, [logs]);
  }, 300_000);

  it('reports Postgres down on /health while it is stopped mid-apply, recovers, and finishes the jobs', async () => {
    const ids = await start('cluster-postgres', 2);
    const logs = watchLogs(svc, ids);
    await waitForApplyLine(svc, ids);
    // Temporal's databases and the app's go down together, as with compose's one Postgres.
    cluster.postgres.stop('fast');
    const stoppedAt = Date.now();
    try {
      for (const web of [0, 1]) await waitForHealth(web, 'the database down', (h) => h.http === 503 && h.db === 'down', 15_000);
      // The outage lasts a while: writers wait, attempts are interrupted, heartbeats go unanswered.
      await sleep(Math.max(0, 12_000 - (Date.now() - stoppedAt)));
    } finally {
      cluster.postgres.start();
    }
    for (const web of [0, 1]) {
      await waitForHealth(web, 'healthy again', (h) => h.http === 200 && h.db === 'ok' && h.temporal === 'ok', 90_000);
    }
    expect(cluster.running(), `the Temporal server exited:\n${cluster.output().slice(-3_000)}`).toBe(true);
    await expectSucceeded(ids, [logs]);
  }, 300_000);

  it('lost no job and sent no email twice', async () => {
    const ids = jobs.map((j) => j.id);
    expect(ids.length, 'the jobs of the tests before this one (run the whole file)').toBe(12);
    // Every job the API accepted is in the one database, once, and finished.
    const rows = await svc.db.selectFrom('jobs').select(['id', 'status']).execute();
    expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(rows.filter((r) => r.status !== 'succeeded')).toEqual([]);
    for (const web of [0, 1]) for (const id of ids) expect((await getJob(via(web), id)).status).toBe('succeeded');

    // One mail per requester. A worker killed in the middle of sending leaves the notification
    // `unconfirmed` rather than risk a second mail: such a job may have none, and says so.
    const unconfirmed = async () =>
      new Set(
        (await svc.db.selectFrom('notifications').select(['job_id', 'status']).where('job_id', 'in', ids).execute())
          .filter((n) => n.status === 'unconfirmed')
          .map((n) => n.job_id),
      );
    await waitFor(
      'a mail (or an unconfirmed delivery) per job',
      async () => {
        const perRecipient = mailsPerRecipient(svc.mails);
        const open = await unconfirmed();
        return jobs.every((j) => perRecipient.has(j.email) || open.has(j.id));
      },
      30_000,
    );
    const perRecipient = mailsPerRecipient(svc.mails);
    const open = await unconfirmed();
    for (const j of jobs) {
      const mails = perRecipient.get(j.email) ?? 0;
      expect(mails, `mails to ${j.email}`).toBeLessThanOrEqual(1);
      if (mails === 0) expect(open.has(j.id), `job ${j.id} has no mail and no unconfirmed delivery`).toBe(true);
    }
    // Only the crash-loop jobs may lack a mail: nothing killed a worker near the others' sends.
    const quiet = jobs.filter((j) => !j.email.startsWith('cluster-kill-'));
    for (const j of quiet) expect(perRecipient.get(j.email), `mails to ${j.email}`).toBe(1);
  }, 60_000);
});
