import fs from 'node:fs';
import SQLite from 'better-sqlite3';
import { createJobSpecSchema, publicSpec } from '../src/domain/jobSpec.js';
import { jobSpecInput } from './lib/api.js';

/**
 * Fills an (already migrated) app database for workload 4: `jobs` jobs with
 * their steps, audit entries and notifications, and `lines` log lines in
 * total, of which `bigJobLines` belong to one job (the one the job page and
 * logs page are loaded with). At full size that is millions of rows, so the
 * seed runs without a journal or fsyncs (a crash would only lose a benchmark
 * database), in transactions of LINES_PER_TRANSACTION lines, and puts the
 * database back in WAL mode, as the app runs it, when done.
 */

export interface SeedResult {
  bigJobId: string;
  jobs: number;
  lines: number;
  ms: number;
  /** The database's size on disk when the seed is done: the file and its -wal. */
  bytes: number;
}

/** Big enough that commits cost nothing, small enough that a transaction's dirty pages stay in the cache. */
const LINES_PER_TRANSACTION = 500_000;

const STEPS = ['verify', 'preflight', 'render', 'init', 'plan', 'apply', 'output', 'ready', 'notify'];
const STATUSES: [string, number][] = [
  ['succeeded', 0.55],
  ['destroyed', 0.2],
  ['failed', 0.1],
  ['cancelled', 0.05],
  ['running', 0.04],
  ['draft', 0.06],
];

function statusFor(i: number): string {
  // Deterministic spread: a fractional hash of i against the cumulative shares.
  const x = ((i * 2654435761) % 1000) / 1000;
  let acc = 0;
  for (const [s, share] of STATUSES) {
    acc += share;
    if (x < acc) return s;
  }
  return 'succeeded';
}

const iso = (ms: number) => new Date(ms).toISOString();

const LOG_TEXT = [
  'terraform_data.security_group: Creating...',
  'terraform_data.security_group: Creation complete after 0s [id=3f0c6d1e-5b7a-9c2d-8e4f-1a2b3c4d5e6f]',
  'terraform_data.instance: Creating...',
  "terraform_data.instance: Provisioning with 'local-exec'...",
  'terraform_data.instance (local-exec): sandbox: creating instance for job',
  'Initializing the backend...',
  'Terraform has been successfully initialized!',
  'Plan: 2 to add, 0 to change, 0 to destroy.',
  'Apply complete! Resources: 2 added, 0 changed, 0 destroyed.',
];

export function seedDatabase(file: string, opts: { jobs: number; lines: number; bigJobLines: number }): SeedResult {
  const t0 = performance.now();
  const spec = createJobSpecSchema({
    allowedRegions: ['us-east-1', 'eu-west-1'],
    allowedInstanceTypes: ['t3.micro', 't3.small'],
    allowAccessKeys: false,
  }).parse(jobSpecInput('seed'));
  const db = new SQLite(file);
  // Only for the seed: no rollback journal, no fsync, no per-row foreign key lookups (the rows are consistent by construction).
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('foreign_keys = OFF');
  db.pragma('cache_size = -262144');

  const insertJob = db.prepare(`insert into jobs (id, name, status, step, requester_email, region, instance_type, auth_method,
    spec_json, account_id, assumed_role_arn, plan_summary_json, outputs_json, error, workflow_id, created_by, created_at,
    started_at, finished_at, destroy_at, has_resources, updated_at)
    values (@id, @name, @status, @step, @requester_email, @region, @instance_type, @auth_method, @spec_json, @account_id,
    @assumed_role_arn, @plan_summary_json, @outputs_json, @error, @workflow_id, @created_by, @created_at, @started_at,
    @finished_at, @destroy_at, @has_resources, @updated_at)`);
  const insertStep = db.prepare(
    'insert into job_steps (job_id, step, attempt, state, started_at, finished_at, error, detail) values (?, ?, 1, ?, ?, ?, ?, null)',
  );
  const insertAudit = db.prepare('insert into audit_log (at, actor, action, job_id, ip, detail) values (?, ?, ?, ?, ?, null)');
  const insertNotification = db.prepare(`insert into notifications (job_id, event, recipient, subject, html, text, provider,
    status, error, provider_message_id, created_at, sent_at) values (?, 'succeeded', ?, ?, ?, ?, 'outbox', 'sent', null, null, ?, ?)`);
  const insertLog = db.prepare(
    'insert into job_logs (job_id, seq, ts, step, attempt, stream, line_no, line) values (?, ?, ?, ?, 1, ?, ?, ?)',
  );

  const now = Date.now();
  const ids: string[] = [];
  const withLogs: string[] = [];
  const createdAt = new Map<string, number>();
  const plan = JSON.stringify({
    add: 2,
    change: 0,
    destroy: 0,
    resources: [
      { address: 'terraform_data.security_group', actions: ['create'] },
      { address: 'terraform_data.instance', actions: ['create'] },
    ],
  });
  let bigJobId = '';
  let lines = 0;

  let pending = 0;
  const begin = db.prepare('begin');
  const commit = db.prepare('commit');
  const commitEvery = (n: number) => {
    pending += n;
    if (pending < LINES_PER_TRANSACTION) return;
    commit.run();
    begin.run();
    pending = 0;
  };

  const writeLogs = (jobId: string, count: number) => {
    const start = createdAt.get(jobId)! + 5_000;
    const lineNo = new Map<string, number>();
    for (let seq = 1; seq <= count; seq++) {
      // init and plan get a few lines each, apply the rest (where a chatty provisioner prints).
      const step = seq <= 10 ? 'init' : seq <= 25 ? 'plan' : 'apply';
      const stream = seq % 97 === 0 ? 'stderr' : 'stdout';
      const key = `${step}|${stream}`;
      const n = (lineNo.get(key) ?? 0) + 1;
      lineNo.set(key, n);
      const text =
        step === 'apply' && seq > 30
          ? `terraform_data.instance (local-exec): sandbox line ${seq - 30} of the provisioner's output, padded to a realistic length`
          : LOG_TEXT[seq % LOG_TEXT.length];
      insertLog.run(jobId, seq, iso(start + seq), step, stream, n, text);
      commitEvery(1);
    }
    lines += count;
  };

  begin.run();
  for (let i = 0; i < opts.jobs; i++) {
    const id = `j${i.toString(32).padStart(12, '0')}`;
    const status = statusFor(i);
    // The newest job is a succeeded one with the big log: it is the first row on the dashboard.
    const final = i === opts.jobs - 1 ? 'succeeded' : status;
    const created = now - (opts.jobs - i) * 600_000;
    createdAt.set(id, created);
    const started = final === 'draft' ? null : created + 2_000;
    const finished = ['succeeded', 'destroyed', 'failed', 'cancelled'].includes(final) ? created + 90_000 : null;
    const name = `seed-job-${i}`;
    insertJob.run({
      id,
      name,
      status: final,
      step: final === 'draft' ? null : final === 'running' ? 'apply' : final === 'destroyed' ? 'destroy' : 'notify',
      requester_email: `user${i % 50}@example.com`,
      region: i % 3 === 0 ? 'eu-west-1' : 'us-east-1',
      instance_type: 't3.micro',
      auth_method: 'assume_role',
      spec_json: JSON.stringify(publicSpec({ ...spec, name })),
      account_id: final === 'draft' ? null : '123456789012',
      assumed_role_arn: final === 'draft' ? null : 'arn:aws:sts::123456789012:assumed-role/Provisioner/bench',
      plan_summary_json: final === 'draft' ? null : plan,
      outputs_json:
        final === 'succeeded' || final === 'destroyed'
          ? JSON.stringify({
              instance_id: `i-${i.toString(16).padStart(17, '0')}`,
              public_ip: `203.0.113.${i % 254}`,
              private_ip: `10.0.${i % 254}.${(i * 7) % 254}`,
              public_dns: `ec2-203-0-113-${i % 254}.compute-1.amazonaws.com`,
              ami_id: 'ami-0123456789abcdef0',
              security_group_id: `sg-${i.toString(16).padStart(17, '0')}`,
            })
          : null,
      error: final === 'failed' ? 'terraform apply failed (exit code 1): sandbox: failing at apply as asked' : null,
      workflow_id: final === 'draft' ? null : `job-${id}`,
      created_by: 'admin',
      created_at: iso(created),
      started_at: started ? iso(started) : null,
      finished_at: finished ? iso(finished) : null,
      destroy_at: null,
      has_resources: final === 'succeeded' || final === 'failed' ? 1 : 0,
      updated_at: iso(finished ?? started ?? created),
    });
    ids.push(id);
    insertAudit.run(iso(created), 'admin', 'create', id, '127.0.0.1');
    if (final === 'draft') continue;
    insertAudit.run(iso(created + 2_000), 'admin', 'start', id, '127.0.0.1');
    withLogs.push(id);
    const lastStep =
      final === 'failed' ? STEPS.indexOf('apply') : final === 'running' ? STEPS.indexOf('apply') : STEPS.length - 1;
    for (let s = 0; s <= lastStep; s++) {
      const from = created + 3_000 + s * 9_000;
      const state =
        s < lastStep || final === 'succeeded' || final === 'destroyed' ? 'succeeded' : final === 'failed' ? 'failed' : 'running';
      insertStep.run(
        id,
        STEPS[s],
        state,
        iso(from),
        state === 'running' ? null : iso(from + 8_000),
        state === 'failed' ? 'exit code 1' : null,
      );
    }
    if (final === 'succeeded' || final === 'destroyed') {
      insertNotification.run(
        id,
        `user${i % 50}@example.com`,
        `Your environment ${name} is ready`,
        `<p>Your environment <b>${name}</b> is ready.</p>`,
        `Your environment ${name} is ready.`,
        iso(finished!),
        iso(finished!),
      );
    }
  }
  bigJobId = ids[ids.length - 1];
  const others = withLogs.filter((id) => id !== bigJobId);
  const rest = Math.max(0, opts.lines - opts.bigJobLines);
  const perJob = others.length ? Math.floor(rest / others.length) : 0;
  for (const id of others) writeLogs(id, perJob);
  writeLogs(bigJobId, opts.lines - lines);
  commit.run();
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  const size = (f: string) => (fs.existsSync(f) ? fs.statSync(f).size : 0);
  return { bigJobId, jobs: ids.length, lines, ms: performance.now() - t0, bytes: size(file) + size(`${file}-wal`) };
}
