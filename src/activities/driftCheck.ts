import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../db/database.js';
import { getJob, updateJob } from '../db/jobs.js';
import { latestRevision } from '../db/revisions.js';
import type { JobSpec } from '../domain/jobSpec.js';
import { revisionInProgress } from '../domain/lifecycle.js';
import { redactLine } from '../domain/redact.js';
import { terraformEnv, type JobCredentials } from './awsCredentials.js';
import type { ActivitySettings } from './index.js';
import type { TerraformContext } from './terraformCommands.js';
import { runTerraform } from './terraformProcess.js';
import { jobWorkspaceDir, TFVARS_FILE } from './workspace.js';

/**
 * Drift: whether what runs in the account still is what the job declares.
 * A refresh-only plan asks the provider for each resource's real state and
 * compares it with the state of the last apply; it changes nothing. Its
 * findings are said for people (the resource and the attributes that moved)
 * and kept on the job; the job page offers Reconcile, a revision that
 * applies the declared state again.
 */

export const DRIFT_PLAN_FILE = 'drift.tfplan';

/** Attribute values longer than this are said to have changed, not quoted. */
const SHOWN_VALUE = 60;

interface PlanJson {
  resource_drift?: { address: string; change?: { actions?: string[]; before?: unknown; after?: unknown } }[];
  output_changes?: Record<string, { actions?: string[]; before?: unknown; after?: unknown }>;
}

const shown = (v: unknown) => {
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  return text !== undefined && text.length <= SHOWN_VALUE ? text : null;
};

/** What `terraform show -json` of a refresh-only plan says drifted, one line per finding. */
export function parseDrift(json: string): string[] {
  const plan = JSON.parse(json) as PlanJson;
  const items: string[] = [];
  for (const d of plan.resource_drift ?? []) {
    const actions = d.change?.actions ?? [];
    if (actions.includes('delete')) {
      items.push(`${d.address} was deleted outside the service`);
      continue;
    }
    const before = (d.change?.before ?? {}) as Record<string, unknown>;
    const after = (d.change?.after ?? {}) as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    const moved = keys.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
    const said = moved.map((k) => {
      const [b, a] = [shown(before[k]), shown(after[k])];
      return b !== null && a !== null ? `${k} ${b} → ${a}` : `${k} changed`;
    });
    items.push(`${d.address}: ${said.length ? said.join(', ') : 'changed outside the service'}`);
  }
  for (const [name, change] of Object.entries(plan.output_changes ?? {})) {
    if ((change.actions ?? []).every((a) => a === 'no-op')) continue;
    const after = change.after;
    // An output that maps what moved to how (the sandbox module's hand changes) is read entry by entry.
    if (after && typeof after === 'object' && !Array.isArray(after)) {
      for (const [k, v] of Object.entries(after as Record<string, unknown>)) items.push(`${k}: ${shown(v) ?? 'changed'}`);
    } else {
      const [b, a] = [shown(change.before), shown(after)];
      items.push(b !== null && a !== null ? `output ${name} ${b} → ${a}` : `output ${name} changed`);
    }
  }
  return items;
}

/** A sink for the check's own Terraform output: kept out of the job's log, redacted for errors. */
const quietSink = { write: () => undefined, flush: async () => undefined, redact: redactLine, pending: 0 };

/** The refresh-only plan: [] when the environment is as declared. Never waits for a lock: a busy workspace is checked next time. */
export async function terraformDriftPlan(ctx: Omit<TerraformContext, 'sink'>): Promise<string[]> {
  const base = {
    binary: ctx.binary,
    cwd: ctx.workspaceDir,
    env: ctx.env,
    sink: quietSink,
    signal: ctx.signal,
    graceMs: ctx.graceMs,
    onHeartbeat: ctx.onHeartbeat,
    heartbeatMs: ctx.heartbeatMs,
  };
  const plan = await runTerraform({
    ...base,
    args: [
      'plan',
      '-refresh-only',
      '-detailed-exitcode',
      `-out=${DRIFT_PLAN_FILE}`,
      '-lock-timeout=0s',
      '-input=false',
      '-no-color',
    ],
    okExitCodes: [2],
  });
  if (plan.exitCode === 0) return [];
  const shown = await runTerraform({ ...base, args: ['show', '-json', '-no-color', DRIFT_PLAN_FILE], captureStdout: true });
  const items = parseDrift(shown.stdout ?? '');
  // Exit code 2 with nothing said (a change of no interest, e.g. to a tag-only read): still drift.
  return items.length ? items : ['the refresh found changes made outside the service'];
}

export interface DriftKit {
  db: Db;
  settings: ActivitySettings;
  credentialsFor: (jobId: string, spec: JobSpec) => Promise<{ credentials: JobCredentials }>;
  heartbeat: () => void;
  signal: AbortSignal;
}

export type DriftOutcome =
  | { state: 'in_sync' | 'drifted'; items: string[]; newlyDrifted: boolean }
  | { state: 'error'; items: string[]; newlyDrifted: false }
  | { state: 'skipped'; reason: string };

/** One job's check, its verdict recorded on the job. */
export async function checkJobDrift(kit: DriftKit, jobId: string, checkedAt: string): Promise<DriftOutcome> {
  const job = await getJob(kit.db, jobId);
  if (job?.status !== 'succeeded') return { state: 'skipped', reason: 'not live' };
  if (revisionInProgress((await latestRevision(kit.db, jobId))?.state))
    return { state: 'skipped', reason: 'a revision is running' };
  const record = async (state: 'in_sync' | 'drifted' | 'error', items: string[]) => {
    await updateJob(kit.db, jobId, { drift_state: state, drift_checked_at: checkedAt, drift_json: JSON.stringify(items) });
  };
  const spec = JSON.parse(job.spec_json) as JobSpec;
  const dir = jobWorkspaceDir(kit.settings.jobsWorkdir, jobId);
  const problem =
    spec.auth.method === 'access_keys'
      ? 'access keys are never stored, so the service cannot look at this environment between its runs'
      : !fs.existsSync(path.join(dir, TFVARS_FILE))
        ? "the job's workspace is not on this worker (drift checks need a shared JOBS_WORKDIR or remote state)"
        : null;
  if (problem) {
    await record('error', [problem]);
    return { state: 'error', items: [problem], newlyDrifted: false };
  }
  try {
    const { credentials } = await kit.credentialsFor(jobId, spec);
    const ctx = {
      binary: kit.settings.terraformBinary,
      workspaceDir: dir,
      env: {
        ...terraformEnv(credentials, spec.region),
        ...(kit.settings.pluginCacheDir ? { TF_PLUGIN_CACHE_DIR: kit.settings.pluginCacheDir } : {}),
      },
      signal: kit.signal,
      graceMs: kit.settings.killGraceMs,
      onHeartbeat: kit.heartbeat,
      heartbeatMs: 1_000,
    };
    const items = await terraformDriftPlan(ctx);
    const state = items.length ? 'drifted' : 'in_sync';
    // One email per drift found: not again while the same findings stand.
    const newlyDrifted = state === 'drifted' && (job.drift_state !== 'drifted' || job.drift_json !== JSON.stringify(items));
    await record(state, items);
    return { state, items, newlyDrifted };
  } catch (err) {
    if (/lock/i.test((err as Error).message)) return { state: 'skipped', reason: 'the workspace is busy' };
    const items = [`the check failed: ${redactLine((err as Error).message).slice(0, 500)}`];
    await record('error', items);
    return { state: 'error', items, newlyDrifted: false };
  }
}

export function createDriftActivities(
  kit: Omit<DriftKit, 'heartbeat' | 'signal'>,
  context: () => Pick<DriftKit, 'heartbeat' | 'signal'>,
) {
  return {
    /** The jobs whose environment is live, for the drift check to look at. */
    async listLiveJobs(): Promise<string[]> {
      const rows = await kit.db.selectFrom('jobs').select('id').where('status', '=', 'succeeded').orderBy('id').execute();
      return rows.map((r) => r.id);
    },

    async checkDrift(input: { jobId: string; checkedAt: string }): Promise<DriftOutcome> {
      const { heartbeat, signal } = context();
      const beat = setInterval(heartbeat, 1_000);
      try {
        return await checkJobDrift({ ...kit, heartbeat, signal }, input.jobId, input.checkedAt);
      } finally {
        clearInterval(beat);
      }
    },
  };
}
