import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { JobStatus, JobStep, RevisionKind, RevisionState, StepState } from '../domain/lifecycle.js';
import type { ChangeableSpec, SpecDifference } from '../domain/specChange.js';

/** The workflow's signals and query: the one place the web side and the workflow agree on them. */

export interface CancelRequest {
  by: string;
  reason?: string;
}
export interface DestroyRequest {
  by: string;
}
export interface ApproveRequest {
  approver: string;
  comment?: string;
}
export interface RejectRequest {
  by: string;
  reason: string;
}

export const cancelSignal = defineSignal<[CancelRequest]>('cancel');
export const destroySignal = defineSignal<[DestroyRequest]>('destroy');
export const approveSignal = defineSignal<[ApproveRequest]>('approve');
export const rejectSignal = defineSignal<[RejectRequest]>('reject');

export interface StepRecord {
  step: JobStep;
  state: StepState;
  startedAt: string;
  finishedAt?: string;
  error?: string;
}

export interface JobProgress {
  status: JobStatus;
  step: JobStep | null;
  steps: StepRecord[];
  startedAt: string;
  finishedAt?: string;
  error?: string;
  /** When a plan waits for approval: the moment it expires. */
  approvalDeadline?: string;
  /** Whether the job's Terraform state holds resources, as far as the workflow knows. */
  hasResources: boolean;
  destroyAt?: string;
  /** The job's latest revision, as far as this run knows: a change to the live environment. */
  revision?: { number: number; state: RevisionState; step: JobStep | null; approvalDeadline?: string; error?: string };
}

export const progressQuery = defineQuery<JobProgress>('progress');

/** A new time to live, counted from now; null: no TTL (the environment lives until destroyed). */
export interface SetTtlRequest {
  by: string;
  ttlHours: number | null;
}
export interface SetTtlResult {
  destroyAt: string | null;
}

/** An Update, not a signal: the caller learns at once whether the job took it, and why not. */
export const setTtlUpdate = defineUpdate<SetTtlResult, [SetTtlRequest]>('setTtl');

/**
 * A revision: the environment's changeable part as it should become (the web
 * applied the change to the stored spec; no secret is in it), with what
 * changed said for people. The workflow applies it to the spec it holds.
 */
export interface ReviseRequest {
  /** Made by the caller: the Update's id and the revision row's, so a retry records one revision. */
  revisionId: string;
  kind: RevisionKind;
  by: string;
  byId: string | null;
  reason?: string;
  changeable: ChangeableSpec;
  differences: SpecDifference[];
}
export interface ReviseResult {
  revision: number;
}

/** Accepted once the revision is recorded; it then runs in the job's workflow (plan, approval, apply, ready). */
export const reviseUpdate = defineUpdate<ReviseResult, [ReviseRequest]>('revise');
