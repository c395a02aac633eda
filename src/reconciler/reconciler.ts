import type { Client } from '@temporalio/client';
import type { Db } from '../db/database.js';
import { recordAudit } from '../db/audit.js';
import { closeRunningSteps, transitionJob } from '../db/jobs.js';
import { redactLine } from '../domain/redact.js';
import type { JobStatus } from '../domain/lifecycle.js';
import type { Notifier } from '../notifications/notifier.js';
import { jobsReconciled } from '../observability/metrics.js';
import { readWorkflowEnding, type WorkflowEnding } from './closedWorkflow.js';

/**
 * Keeps the database following the workflows. A workflow records its own
 * ending, but one that is terminated or times out from outside runs no more
 * code, and one whose last status write failed could not record it: the
 * job would show `running` for ever. Every cycle compares the jobs the
 * database shows as active (or succeeded, whose workflow waits for the
 * destroy) with the workflows Temporal lists as running, and reads how each
 * missing one ended. Compare-and-set writes make several web processes doing
 * this at once harmless: one of them records, audits and emails.
 */

/** Job statuses whose workflow must still be running. */
export const STATUSES_WITH_OPEN_WORKFLOW: readonly JobStatus[] = [
  'running',
  'awaiting_approval',
  'cancelling',
  'destroying',
  'succeeded',
];

/** A job shown running whose workflow cannot be found is given this long to appear (a start in flight). */
const MISSING_GRACE_MS = 60_000;
const RECONCILER_ACTOR = { user: 'system:reconciler' };

export interface ReconcilerDeps {
  db: Db;
  client: Client;
  notifier?: Notifier;
  log?: { info: (o: object, m: string) => void; warn: (o: object, m: string) => void };
  now?: () => Date;
}

export interface ReconcileResult {
  checked: number;
  corrected: { jobId: string; from: string; to: JobStatus; reason: string }[];
}

/** One pass: every job whose workflow should be open but is not gets the status its workflow's ending says. */
export async function reconcileOnce(deps: ReconcilerDeps): Promise<ReconcileResult> {
  const { db, client } = deps;
  const jobs = await db
    .selectFrom('jobs')
    .select(['id', 'status', 'step', 'workflow_id', 'has_resources', 'started_at', 'error'])
    .where('status', 'in', STATUSES_WITH_OPEN_WORKFLOW as JobStatus[])
    .where('workflow_id', 'is not', null)
    .execute();
  const result: ReconcileResult = { checked: 0, corrected: [] };
  if (jobs.length === 0) return result;

  // One paged listing instead of one call per job; what it lacks is confirmed one by one
  // (the listing lags behind: a workflow started a moment ago may not be in it yet).
  const open = new Set<string>();
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'provisionJob' AND ExecutionStatus = 'Running'` })) {
    open.add(wf.workflowId);
  }
  for (const job of jobs) {
    if (open.has(job.workflow_id!)) continue;
    result.checked++;
    let ending: WorkflowEnding;
    try {
      ending = await readWorkflowEnding(client, job.workflow_id!);
    } catch (err) {
      deps.log?.warn({ jobId: job.id, error: (err as Error).message }, 'reconciler: could not read the workflow');
      continue;
    }
    const now = (deps.now ?? (() => new Date()))();
    const target = targetOf(ending, job, now);
    if (!target) continue;
    const won = await transitionJob(db, job.id, [job.status], {
      status: target.status,
      error: target.error === null ? null : redactLine(target.error),
      finished_at: now.toISOString(),
      ...(target.status === 'destroyed' ? { has_resources: 0 } : {}),
    });
    if (!won) continue; // the job moved on meanwhile (or another web process got here first)
    await closeRunningSteps(db, job.id, "interrupted: the job's workflow closed while this attempt was running");
    await recordAudit(db, {
      actor: RECONCILER_ACTOR,
      action: 'reconcile',
      jobId: job.id,
      detail: `${job.status} → ${target.status}: ${target.reason}`,
    });
    jobsReconciled.inc({ from: job.status, to: target.status });
    deps.log?.warn({ jobId: job.id, from: job.status, to: target.status, reason: target.reason }, 'reconciler: job corrected');
    result.corrected.push({ jobId: job.id, from: job.status, to: target.status, reason: target.reason });
    if (target.status === 'failed' && deps.notifier) await emailFailure(deps, job.id);
  }
  return result;
}

type JobSeen = { status: string; step: string | null; has_resources: number; started_at: string | null; error: string | null };

function targetOf(
  ending: WorkflowEnding,
  job: JobSeen,
  now: Date,
): { status: JobStatus; error: string | null; reason: string } | undefined {
  switch (ending.kind) {
    case 'running':
      return undefined;
    case 'completed':
      if (ending.status === job.status) return undefined;
      return { status: ending.status, error: ending.error, reason: `the workflow completed with status ${ending.status}` };
    case 'missing': {
      const since = job.started_at ? now.getTime() - Date.parse(job.started_at) : Infinity;
      if (since < MISSING_GRACE_MS) return undefined;
      const reason = "the job's workflow does not exist in Temporal (it never started, or was deleted)";
      return { status: 'failed', error: `${reason}${whatIsLeft(job)}`, reason };
    }
    case 'ended': {
      const at = job.status === 'succeeded' ? '' : job.step ? ` during step ${job.step}` : '';
      const env =
        job.status === 'succeeded'
          ? '; the environment still exists, and no TTL or destroy will run for it: destroy the job to remove it'
          : whatIsLeft(job);
      return { status: 'failed', error: `${ending.reason}${at}${env}`, reason: ending.reason };
    }
  }
}

function whatIsLeft(job: JobSeen): string {
  return job.has_resources === 1 ? '; resources may remain: destroy the job to remove them' : '; nothing was created';
}

/** The requester hears once (the outbox row is the gate); a mail server down for a moment gets a few tries. */
async function emailFailure(deps: ReconcilerDeps, jobId: string): Promise<void> {
  const maxAttempts = 3;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    try {
      await deps.notifier!.notify(jobId, 'failed', { attempt, maxAttempts });
      return;
    } catch (err) {
      if (attempt === maxAttempts) {
        deps.log?.warn({ jobId, error: (err as Error).message }, 'reconciler: the failure email could not be sent');
        return;
      }
      await new Promise((r) => setTimeout(r, 1_000 * attempt));
    }
  }
}

export interface Reconciler {
  /** Resolves after the pass in progress, if any, has finished. */
  stop(): Promise<void>;
  /** Runs a pass now (tests, and the first pass at start). */
  runNow(): Promise<ReconcileResult | undefined>;
}

/** Runs a pass every `intervalMs`, never two at once in this process. */
export function startReconciler(deps: ReconcilerDeps & { intervalMs: number }): Reconciler {
  let current: Promise<ReconcileResult | undefined> | undefined;
  let stopped = false;
  const pass = () => {
    current ??= reconcileOnce(deps)
      .catch((err) => {
        deps.log?.warn({ error: (err as Error).message }, 'reconciler: pass failed; trying again next time');
        return undefined;
      })
      .finally(() => {
        current = undefined;
      });
    return current;
  };
  const timer = setInterval(() => {
    if (!stopped) void pass();
  }, deps.intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await current;
    },
    runNow: pass,
  };
}
