import { humanize, type StepAttemptFacts, stepViews, type StepView } from './jobView.js';
import { revisionInProgress } from './lifecycle.js';

/**
 * What the job page and its emails show of a live environment's changes
 * (its revisions) and of its drift: one view model each, from their rows.
 */

export interface RevisionFacts {
  number: number;
  kind: string;
  state: string;
  requested_by: string;
  requested_by_id: string | null;
  requested_at: string;
  reason: string | null;
  differences_json: string;
  plan_json: string | null;
  decided_by: string | null;
  error: string | null;
  finished_at: string | null;
}

export interface RevisionView {
  number: number;
  kind: string;
  state: string;
  stateLabel: string;
  requestedBy: string;
  requestedById: string | null;
  requestedAt: string;
  reason: string | null;
  differences: { text: string; applies: string }[];
  /** "0 to add, 1 to change, 0 to destroy", and what the plan replaces. */
  plan: { counts: string; replaces: string[] } | null;
  decidedBy: string | null;
  error: string | null;
  finishedAt: string | null;
  inProgress: boolean;
  awaitingApproval: boolean;
  /** For the revision shown in detail: its steps, attempts counted within it. */
  steps: StepView[];
}

interface StoredPlan {
  add: number;
  change: number;
  destroy: number;
  resources?: { address: string; actions: string[] }[];
}

/** What a plan replaces: destroyed and created again. */
export function replacedAddresses(resources: readonly { address: string; actions: string[] }[] = []): string[] {
  return resources.filter((r) => r.actions.includes('delete') && r.actions.includes('create')).map((r) => r.address);
}

export function revisionView(row: RevisionFacts, steps: readonly StepAttemptFacts[] = []): RevisionView {
  const plan = row.plan_json ? (JSON.parse(row.plan_json) as StoredPlan) : null;
  // Attempt numbers go on across the job; within a revision they count from 1.
  const first = new Map<string, number>();
  for (const s of steps) first.set(s.step, Math.min(first.get(s.step) ?? s.attempt, s.attempt));
  const own = steps.map((s) => ({ ...s, attempt: s.attempt - (first.get(s.step) ?? 1) + 1 }));
  return {
    number: row.number,
    kind: row.kind,
    state: row.state,
    stateLabel: humanize(row.state),
    requestedBy: row.requested_by,
    requestedById: row.requested_by_id,
    requestedAt: row.requested_at,
    reason: row.reason,
    differences: JSON.parse(row.differences_json) as { text: string; applies: string }[],
    plan: plan
      ? {
          counts: `${plan.add} to add, ${plan.change} to change, ${plan.destroy} to destroy`,
          replaces: replacedAddresses(plan.resources),
        }
      : null,
    decidedBy: row.decided_by,
    error: row.error,
    finishedAt: row.finished_at,
    inProgress: revisionInProgress(row.state),
    awaitingApproval: row.state === 'awaiting_approval',
    steps: stepViews(own),
  };
}

export interface DriftView {
  state: 'in_sync' | 'drifted' | 'error';
  label: string;
  checkedAt: string | null;
  /** What drifted (or why the check failed), said for people. */
  items: string[];
}

export function driftView(job: {
  drift_state?: string | null;
  drift_checked_at?: string | null;
  drift_json?: string | null;
}): DriftView | null {
  const state = job.drift_state;
  if (state !== 'in_sync' && state !== 'drifted' && state !== 'error') return null;
  const label = state === 'drifted' ? 'Drifted' : state === 'error' ? 'Drift check failed' : 'In sync';
  return {
    state,
    label,
    checkedAt: job.drift_checked_at ?? null,
    items: job.drift_json ? (JSON.parse(job.drift_json) as string[]) : [],
  };
}
