import { CancellationScope, condition, isCancellation, setHandler } from '@temporalio/workflow';
import type { JobSpec } from '../domain/jobSpec.js';
import { type JobStep, type RevisionState, revisionInProgress } from '../domain/lifecycle.js';
import type { RevisionOutcome as RevisionMail } from '../domain/notifications.js';
import type { ChangeableSpec } from '../domain/specChange.js';
import type { ActivityProxies } from './activityProxies.js';
import { type ApproveRequest, type JobProgress, type RejectRequest, type ReviseRequest, reviseUpdate } from './messages.js';

export type RevisionDecision = { approved: true; by: ApproveRequest } | { approved: false; by: RejectRequest };

export interface RevisionRun {
  jobId: string;
  /** The spec the environment runs now, secrets included. */
  spec: JobSpec;
  request: ReviseRequest;
  number: number;
  acts: ActivityProxies;
  progress: JobProgress;
  approvalTimeoutMs: number;
  /** The approve or reject signal taken for this revision, if any yet. */
  decision: () => RevisionDecision | undefined;
  /** Cancelled by the cancel signal, or by a destroy asked meanwhile. */
  scope: CancellationScope;
  describe: (err: unknown) => string;
  /** Told of each step as it starts (the job's JobStep search attribute). */
  onStep?: (step: JobStep) => void;
}

export interface RevisionOutcome {
  state: Extract<RevisionState, 'succeeded' | 'failed' | 'cancelled' | 'rejected'>;
  /** What the environment runs after the revision: the new spec, the old one, or the new infrastructure with the old containers. */
  spec: JobSpec;
  error?: string;
}

/** The spec with its changeable part replaced: credentials, region, network and AMI stay. */
export function withChangeable(spec: JobSpec, changeable: ChangeableSpec): JobSpec {
  const next: JobSpec = {
    ...spec,
    instance: {
      ...spec.instance,
      type: changeable.instance.type,
      volumeSizeGb: changeable.instance.volumeSizeGb,
      ingressCidr: changeable.instance.ingressCidr,
    },
    containers: changeable.containers,
  };
  if (changeable.instance.sshCidr) next.instance.sshCidr = changeable.instance.sshCidr;
  else delete next.instance.sshCidr;
  if (changeable.usersCsv) next.usersCsv = changeable.usersCsv;
  else delete next.usersCsv;
  return next;
}

/**
 * One change to a live environment: the same steps as the first run (verify,
 * render, init, plan, approval when asked or when the plan replaces or
 * destroys anything, apply, output) and then the change on the running
 * instance (Run Command) in place of its first boot. A failure leaves the
 * environment as it ran: nothing is applied before the plan is approved, and
 * containers that fail on the instance are put back as they were. The job
 * stays `succeeded` throughout; the revision has its own state.
 */
export async function runRevision(r: RevisionRun): Promise<RevisionOutcome> {
  const { jobId, number: revision, acts, progress } = r;
  const { quick, aws, terraform, readiness, mail } = acts;
  const next = withChangeable(r.spec, r.request.changeable);
  const state = progress.revision ?? { number: revision, state: 'planning' as const, step: null };
  progress.revision = state;
  let applied = false;
  let infraChanged = false;
  let instanceTouched = false;
  let outputs: Record<string, string | null> | undefined;

  const setState = async (s: RevisionState, extra: { error?: string } = {}) => {
    state.state = s;
    if (extra.error) state.error = extra.error;
    await quick.recordRevision({ jobId, number: revision, state: s, ...extra });
  };
  const step = <T>(name: JobStep, run: () => Promise<T>): Promise<T> => {
    state.step = name;
    r.onStep?.(name);
    return run();
  };
  const notify = async (outcome: RevisionMail) => {
    try {
      await mail.notify({ jobId, event: `revision_${revision}_${outcome}` });
    } catch {
      /* recorded on the job by the activity */
    }
  };

  let outcome: RevisionOutcome['state'];
  let error: string | undefined;
  try {
    outcome = await r.scope.run(async () => {
      await step('verify', () => aws.verifyCredentials({ jobId, spec: next, revision }));
      await step('render', () => terraform.renderWorkspace({ jobId, spec: next, revision }));
      await step('init', () => terraform.terraformInit({ jobId, spec: next, revision }));
      const plan = await step('plan', () => terraform.terraformPlan({ jobId, spec: next, revision }));
      infraChanged = plan.add + plan.change + plan.destroy > 0;

      if (next.options?.requireApproval || plan.destroy > 0) {
        const approved = await step('approval', async () => {
          state.approvalDeadline = new Date(Date.now() + r.approvalTimeoutMs).toISOString();
          await setState('awaiting_approval');
          await notify('approval_needed');
          const decided = await condition(() => r.decision() !== undefined, r.approvalTimeoutMs);
          state.approvalDeadline = undefined;
          const d = decided ? r.decision() : undefined;
          let detail: string;
          if (!d) detail = 'no decision before the approval deadline';
          else if (d.approved) detail = `approved by ${d.by.approver}${d.by.comment ? `: ${d.by.comment}` : ''}`;
          else detail = `rejected by ${d.by.by}: ${d.by.reason}`;
          await quick.recordRevision({ jobId, number: revision, decidedBy: detail, approved: d?.approved === true });
          if (!d?.approved) error = detail;
          return d?.approved === true;
        });
        if (!approved) return 'rejected' as const;
      }

      await setState('applying');
      await step('apply', () => terraform.terraformApply({ jobId, spec: next, revision }));
      applied = true;
      outputs = await step('output', () => terraform.terraformOutput({ jobId, spec: next, revision }));
      instanceTouched = true;
      await step('ready', () => readiness.applyOnInstance({ jobId, spec: next, outputs: outputs ?? {}, revision }));
      return 'succeeded' as const;
    });
  } catch (err) {
    outcome = isCancellation(err) ? 'cancelled' : 'failed';
    error = outcome === 'cancelled' ? 'cancelled on request' : r.describe(err);
  }

  return CancellationScope.nonCancellable(async () => {
    let spec = outcome === 'succeeded' ? next : r.spec;
    if (outcome !== 'succeeded' && applied) {
      // The infrastructure took the change; what runs on the instance is put back as it was.
      spec = { ...r.spec, instance: next.instance };
      if (instanceTouched && outputs) {
        try {
          await readiness.applyOnInstance({ jobId, spec, outputs, revision, rollback: true });
          error = `${error}; the containers and users were put back as they were`;
        } catch (err) {
          error = `${error}; putting the containers back failed too: ${r.describe(err)}`;
        }
      }
      if (infraChanged) error = `${error} (the infrastructure changes were applied)`;
    }
    state.step = null;
    state.state = outcome;
    if (error) state.error = error;
    await quick.recordRevision({
      jobId,
      number: revision,
      state: outcome,
      error: error ?? null,
      finished: true,
      // What the environment runs now becomes the job's spec.
      ...(spec !== r.spec ? { spec } : {}),
    });
    await notify(outcome);
    return { state: outcome, spec, ...(error ? { error } : {}) };
  });
}

export interface LiveChanges {
  /** What the environment runs: the job's spec, then each successful revision's. */
  readonly spec: JobSpec;
  /** Whether the Update took a revision that has not run yet. */
  readonly pending: boolean;
  /** Runs the revision the Update took; the job's status stays `succeeded` whatever its outcome. */
  runPending(): Promise<void>;
  /** Stops the revision that runs, if one does: true when there was one. */
  cancel(): boolean;
  /** An approve or reject signal, for the revision waiting for one: true when it took it. */
  decide(decision: RevisionDecision): boolean;
}

/**
 * The revise Update of a live environment and the revisions it takes, one at a
 * time. The validator refuses, with the reason, a job that is not live, a
 * revision while another is in progress, and a volume that would shrink.
 */
export function liveChanges(ctx: {
  jobId: string;
  spec: JobSpec;
  acts: ActivityProxies;
  progress: JobProgress;
  approvalTimeoutMs: number;
  isLive: () => boolean;
  describe: (err: unknown) => string;
  onStep?: (step: JobStep) => void;
}): LiveChanges {
  const { jobId, progress } = ctx;
  let spec = ctx.spec;
  let pending: { request: ReviseRequest; number: number } | undefined;
  let scope: CancellationScope | undefined;
  let decision: RevisionDecision | undefined;

  setHandler(
    reviseUpdate,
    async (request) => {
      // Claimed at once, so a second request arriving while this one is recorded is refused.
      progress.revision = { number: 0, state: 'planning', step: null };
      const number = await ctx.acts.quick.recordRevision({ jobId, start: request });
      progress.revision = { number, state: 'planning', step: null };
      pending = { request, number };
      return { revision: number };
    },
    {
      validator: (request) => {
        if (!ctx.isLive()) {
          throw new Error(`a job that is ${progress.status.replace('_', ' ')} cannot change: only a live environment can`);
        }
        if (pending || revisionInProgress(progress.revision?.state)) {
          throw new Error(
            `revision ${progress.revision?.number || ''} is still in progress: wait for it, or cancel it`.replace('  ', ' '),
          );
        }
        if (request.changeable.instance.volumeSizeGb < spec.instance.volumeSizeGb) {
          throw new Error(`instance.volumeSizeGb may only grow (now ${spec.instance.volumeSizeGb} GiB)`);
        }
      },
    },
  );

  return {
    get spec() {
      return spec;
    },
    get pending() {
      return pending !== undefined;
    },
    async runPending() {
      const taken = pending;
      if (!taken) return;
      pending = undefined;
      decision = undefined;
      scope = new CancellationScope();
      try {
        const outcome = await runRevision({
          jobId,
          spec,
          request: taken.request,
          number: taken.number,
          acts: ctx.acts,
          progress,
          approvalTimeoutMs: ctx.approvalTimeoutMs,
          decision: () => decision,
          scope,
          describe: ctx.describe,
          onStep: ctx.onStep,
        });
        spec = outcome.spec;
      } finally {
        scope = undefined;
      }
    },
    cancel() {
      if (!scope) return false;
      scope.cancel();
      return true;
    },
    decide(d) {
      if (progress.revision?.state !== 'awaiting_approval' || decision) return false;
      decision = d;
      return true;
    },
  };
}
