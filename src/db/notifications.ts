import type { Db } from './database.js';
import type { Insertable } from 'kysely';
import type { NotificationRow, NotificationsTable } from './schema.js';

/** Query functions for the notifications outbox; `db` first, no business rules. */

export type NotificationStatus = 'pending' | 'sending' | 'sent' | 'stored' | 'failed' | 'unconfirmed';

export interface NotificationListItem extends NotificationRow {
  /** The job's name, for lists that show notifications of many jobs. */
  job_name: string | null;
}

/** Newest first; `before` is the id of the last row of the previous page. */
export async function listNotifications(db: Db, q: { limit?: number; before?: number } = {}): Promise<NotificationListItem[]> {
  const limit = Math.min(Math.max(q.limit ?? 50, 1), 500);
  let query = db
    .selectFrom('notifications')
    .leftJoin('jobs', 'jobs.id', 'notifications.job_id')
    .selectAll('notifications')
    .select('jobs.name as job_name');
  if (q.before !== undefined) query = query.where('notifications.id', '<', q.before);
  return query.orderBy('notifications.id', 'desc').limit(limit).execute();
}

export async function getNotification(db: Db, id: number): Promise<NotificationRow | undefined> {
  return db.selectFrom('notifications').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Oldest first: the order in which the job's emails were created. */
export async function listJobNotifications(db: Db, jobId: string): Promise<NotificationRow[]> {
  return db.selectFrom('notifications').selectAll().where('job_id', '=', jobId).orderBy('id').execute();
}

export async function getJobNotification(db: Db, jobId: string, event: string): Promise<NotificationRow | undefined> {
  return db.selectFrom('notifications').selectAll().where('job_id', '=', jobId).where('event', '=', event).executeTakeFirst();
}

/** Creates the (job, event) row unless it exists; the UNIQUE(job_id, event) makes this the exactly-once gate. */
export async function insertNotificationIfAbsent(
  db: Db,
  row: Omit<Insertable<NotificationsTable>, 'id' | 'status' | 'error' | 'provider_message_id' | 'sent_at'>,
): Promise<void> {
  await db
    .insertInto('notifications')
    .values({ ...row, status: 'pending', error: null, provider_message_id: null, sent_at: null })
    .onConflict((oc) => oc.columns(['job_id', 'event']).doNothing())
    .execute();
}

/** Compare-and-set on the row's status; true when this caller made the change. */
export async function transitionNotification(
  db: Db,
  id: number,
  from: NotificationStatus[],
  patch: {
    status: NotificationStatus;
    error?: string | null;
    provider?: string;
    provider_message_id?: string | null;
    sent_at?: string | null;
  },
): Promise<boolean> {
  const res = await db
    .updateTable('notifications')
    .set(patch)
    .where('id', '=', id)
    .where('status', 'in', from)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}
