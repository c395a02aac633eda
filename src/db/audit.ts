import type { Db } from './database.js';
import type { AuditRow } from './schema.js';

export interface AuditEntry {
  actor: { user: string; userId?: string | null; tokenName?: string | null; ip?: string | null };
  action: string;
  jobId?: string | null;
  detail?: string | null;
}

export async function recordAudit(db: Db, entry: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      at: new Date().toISOString(),
      actor: entry.actor.user,
      action: entry.action,
      job_id: entry.jobId ?? null,
      ip: entry.actor.ip ?? null,
      detail: entry.detail ?? null,
      user_id: entry.actor.userId ?? null,
      token_name: entry.actor.tokenName ?? null,
    })
    .execute();
}

export async function listAudit(db: Db, opts: { jobId?: string; limit?: number; beforeId?: number } = {}): Promise<AuditRow[]> {
  let q = db.selectFrom('audit_log').selectAll();
  if (opts.jobId) q = q.where('job_id', '=', opts.jobId);
  if (opts.beforeId) q = q.where('id', '<', opts.beforeId);
  return q
    .orderBy('id', 'desc')
    .limit(Math.min(opts.limit ?? 100, 500))
    .execute();
}
