import type { Db } from '../../src/db/database.js';
import { insertJob } from '../../src/db/jobs.js';

let n = 0;

/** A bare job row for log lines (and the pages that read them) to belong to; ids are unique per call. */
export async function newJobRow(db: Db, opts: { status?: string; hasResources?: number; prefix?: string } = {}): Promise<string> {
  n += 1;
  const prefix = opts.prefix ?? 'jrow';
  const id = `${prefix}${process.pid}x${n}`;
  const now = new Date(Date.UTC(2030, 0, 1, 0, 0, n % 60)).toISOString();
  await insertJob(db, {
    id,
    name: `${prefix}-${n}`,
    status: opts.status ?? 'running',
    requester_email: 'alice@example.com',
    region: 'us-east-1',
    instance_type: 't3.micro',
    auth_method: 'assume_role',
    spec_json: '{}',
    has_resources: opts.hasResources ?? 0,
    created_at: now,
    updated_at: now,
  });
  return id;
}
