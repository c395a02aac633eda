import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { JobColumns } from '../domain/jobView.js';

/** Timestamps are ISO-8601 strings: sortable, readable, and portable to Postgres. */
type Timestamp = string;

export interface JobsTable
  extends Omit<JobColumns, 'has_resources' | 'owner_id' | 'drift_state' | 'drift_checked_at' | 'drift_json'> {
  has_resources: ColumnType<number, number | undefined, number>;
  owner_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** The team and team account the job runs in; null for jobs with a typed role ARN (and from before teams). */
  team_id: ColumnType<string | null, string | null | undefined, string | null>;
  team_account_id: ColumnType<string | null, string | null | undefined, string | null>;
  drift_state: ColumnType<string | null, string | null | undefined, string | null>;
  drift_checked_at: ColumnType<string | null, string | null | undefined, string | null>;
  drift_json: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface JobStepsTable {
  id: Generated<number>;
  job_id: string;
  step: string;
  attempt: number;
  state: string;
  started_at: Timestamp;
  finished_at: Timestamp | null;
  error: string | null;
  detail: string | null;
  /** `<runId>:<activityId>` of the activity invocation the attempt belongs to; null for rows of the workflow itself. */
  invocation: ColumnType<string | null, string | null | undefined, string | null>;
  /** 0: the job's first run; N: the steps of revision N. */
  revision: ColumnType<number, number | undefined, number>;
}

export interface JobLogsTable {
  job_id: string;
  seq: number;
  ts: Timestamp;
  step: string;
  attempt: number;
  stream: string;
  /** Position of the line within its step attempt: makes re-delivered batches idempotent. */
  line_no: number;
  line: string;
}

export interface NotificationsTable {
  id: Generated<number>;
  job_id: string;
  event: string;
  recipient: string;
  subject: string;
  html: string;
  text: string;
  provider: string;
  status: string;
  error: string | null;
  provider_message_id: string | null;
  created_at: Timestamp;
  sent_at: Timestamp | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: Timestamp;
  actor: string;
  action: string;
  job_id: string | null;
  ip: string | null;
  detail: string | null;
  /** The user who acted (null for the system and for rows from before users existed). */
  user_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** The API token the user acted through, by its name. */
  token_name: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface IdempotencyKeysTable {
  key: string;
  scope: string;
  body_hash: string;
  status_code: number;
  response_json: string;
  created_at: ColumnType<Timestamp, Timestamp, never>;
}

/** Browser sessions, so signing out ends a session on every web process, not only in the browser. */
export interface SessionsTable {
  /** sha256 of the session id: the table alone cannot be turned back into a cookie. */
  id_hash: string;
  user: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  user_id: ColumnType<string | null, string | null | undefined, string | null>;
  last_seen_at: ColumnType<string | null, string | null | undefined, string | null>;
}

/** People, created at their first sign-in; `subject` is `local` for the break-glass admin, `oidc:<sub>` otherwise. */
export interface UsersTable {
  id: string;
  subject: string;
  email: string | null;
  name: string;
  /** The role the identity provider's groups gave at the last sign-in. */
  mapped_role: ColumnType<string | null, string | null | undefined, string | null>;
  /** A role an admin set, which wins over the mapping. */
  role_override: ColumnType<string | null, string | null | undefined, string | null>;
  active: ColumnType<number, number | undefined, number>;
  created_at: string;
  last_login_at: ColumnType<string | null, string | null | undefined, string | null>;
  deactivated_at: ColumnType<string | null, string | null | undefined, string | null>;
}

/** Named API tokens; only the sha256 of the secret is kept. */
export interface ApiTokensTable {
  id: string;
  user_id: string;
  name: string;
  role: string;
  token_hash: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: ColumnType<string | null, string | null | undefined, string | null>;
  revoked_at: ColumnType<string | null, string | null | undefined, string | null>;
}

/** A team: who may use its AWS accounts, and how it narrows the global allowlists (null: no narrowing). */
export interface TeamsTable {
  id: string;
  name: string;
  /** People in this identity-provider group join the team at sign-in. */
  oidc_group: string | null;
  /** JSON arrays. */
  allowed_regions: string | null;
  allowed_instance_types: string | null;
  max_ttl_hours: number | null;
  max_live_jobs: number | null;
  /** always | never | on_replace */
  approval_policy: ColumnType<string, string | undefined, string>;
  created_at: string;
}

export interface TeamMembersTable {
  team_id: string;
  user_id: string;
  /** `oidc` (kept in step with the groups at each sign-in) or `admin` (added by hand). */
  source: string;
}

export interface TeamAccountsTable {
  id: string;
  team_id: string;
  label: string;
  account_id: string;
  role_arn: string;
  /** Made by the server; the role's trust policy requires it. */
  external_id: string;
  /** The one before the last rotation, still accepted until previous_valid_until. */
  previous_external_id: ColumnType<string | null, string | null | undefined, string | null>;
  previous_valid_until: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: string;
  rotated_at: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface ServiceFactsTable {
  key: string;
  value: string;
  updated_at: string;
}

export interface JobRevisionsTable {
  /** Made by the caller (the Update's id), so a retried request records one revision. */
  id: string;
  job_id: string;
  number: number;
  kind: string;
  state: string;
  requested_by: string;
  requested_by_id: string | null;
  reason: string | null;
  requested_at: Timestamp;
  /** SpecDifference[]: what changed, said for people, no secret in it. */
  differences_json: string;
  /** The changeable part of the spec after the revision (ChangeableSpec). */
  spec_json: string;
  plan_json: string | null;
  decided_by: string | null;
  error: string | null;
  finished_at: Timestamp | null;
}

/** Jobs per status, kept by triggers on jobs (migration 0007): the dashboard reads it instead of counting. */
export interface JobStatusCountsTable {
  status: string;
  n: number;
}

export interface Database {
  jobs: JobsTable;
  job_steps: JobStepsTable;
  job_logs: JobLogsTable;
  notifications: NotificationsTable;
  audit_log: AuditLogTable;
  idempotency_keys: IdempotencyKeysTable;
  sessions: SessionsTable;
  users: UsersTable;
  api_tokens: ApiTokensTable;
  teams: TeamsTable;
  team_members: TeamMembersTable;
  team_accounts: TeamAccountsTable;
  service_facts: ServiceFactsTable;
  job_revisions: JobRevisionsTable;
  job_status_counts: JobStatusCountsTable;
}

export type JobRow = Selectable<JobsTable>;
export type NewJobRow = Insertable<JobsTable>;
export type JobUpdate = Updateable<JobsTable>;
export type JobStepRow = Selectable<JobStepsTable>;
export type JobLogRow = Selectable<JobLogsTable>;
export type NotificationRow = Selectable<NotificationsTable>;
export type AuditRow = Selectable<AuditLogTable>;
export type UserRow = Selectable<UsersTable>;
export type ApiTokenRow = Selectable<ApiTokensTable>;
export type TeamRow = Selectable<TeamsTable>;
export type JobRevisionRow = Selectable<JobRevisionsTable>;
export type TeamAccountRow = Selectable<TeamAccountsTable>;
