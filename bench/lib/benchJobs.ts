import type { Db } from '../../src/db/database.js';
import { insertJob } from '../../src/db/jobs.js';

/** A job row in its apply step, for the workloads that write its log lines themselves (no workflow behind it). */
export async function insertApplyingJob(db: Db, id: string): Promise<void> {
  const now = new Date().toISOString();
  await insertJob(db, {
    id,
    name: id,
    status: 'running',
    step: 'apply',
    requester_email: 'bench@example.com',
    region: 'us-east-1',
    instance_type: 't3.micro',
    auth_method: 'assume_role',
    spec_json: '{}',
    has_resources: 0,
    created_at: now,
    started_at: now,
    updated_at: now,
  });
}
