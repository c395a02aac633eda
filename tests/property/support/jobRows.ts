import type { Db } from '../../../src/db/database.js';
import { insertJob } from '../../../src/db/jobs.js';

let n = 0;

/** A bare job row for log lines to belong to; each property example gets its own. */
export async function newJob(db: Db, status = 'running'): Promise<string> {
  n += 1;
  const id = `jprop${process.pid}x${n}`;
  const now = new Date(Date.UTC(2030, 0, 1, 0, 0, n % 60)).toISOString();
  await insertJob(db, {
    id,
    name: `prop-${n}`,
    status,
    requester_email: 'alice@example.com',
    region: 'us-east-1',
    instance_type: 't3.micro',
    auth_method: 'assume_role',
    spec_json: '{}',
    has_resources: 0,
    created_at: now,
    updated_at: now,
  });
  return id;
}
