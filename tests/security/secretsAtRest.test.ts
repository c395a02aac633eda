import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import proto from '@temporalio/proto';
import { createApp } from '../../src/api/app.js';
import { getJob } from '../../src/db/jobs.js';
import { ENCODING } from '../../src/temporal/codec.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { waitForStatus } from '../support/jobs.js';
import { bearer, securityConfig, type App } from './support.js';

/**
 * A complete job that authenticates with access keys, on real parts: the
 * REST API (ALLOW_ACCESS_KEY_AUTH=true), the Temporal dev server, a worker
 * with the real activities, STS on moto, and real terraform on the sandbox
 * module told to print AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * AWS_SESSION_TOKEN from its environment, so the log redaction must catch
 * them. Afterwards nothing the service keeps may hold them in clear text:
 * the SQLite file and its WAL, every file of the job's workspace (the
 * plan file unzipped), the job_logs table, and the workflow history as
 * Temporal stores it.
 */

const { History } = proto.temporal.api.history.v1;

const KEY_ID = `AKIA${crypto.randomBytes(10).toString('hex').toUpperCase().slice(0, 16)}`;
// 30 random bytes are exactly 40 base64 characters, with / and + now and then.
const SECRET = crypto.randomBytes(30).toString('base64');
const SESSION_TOKEN = crypto.randomBytes(48).toString('base64');
const SECRETS = { KEY_ID, SECRET, SESSION_TOKEN };

let stack: SandboxStack;
let temp: SandboxStack['temp'];
let client: Client;
let jobsWorkdir: string;
let app: App;
let jobId: string;

beforeAll(async () => {
  // The worker's own base credentials (moto accepts any; the stack sets them, with no session
  // token, and restores the environment on stop): never the job's.
  stack = await startSandboxStack({
    workdirPrefix: 'prov-secrets-jobs-',
    settings: {
      extraTfvars: () => ({ sandbox_echo_env: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'] }),
    },
  });
  ({ temp, client, jobsWorkdir } = stack);
  app = createApp({
    db: temp.db,
    temporal: client,
    config: securityConfig({
      TEMPORAL_TASK_QUEUE: stack.worker.taskQueue,
      DATA_DIR: temp.dir,
      JOBS_WORKDIR: jobsWorkdir,
      ALLOW_ACCESS_KEY_AUTH: 'true',
    }),
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** The forms a secret could take in bytes: raw, base64, URL-encoded, JSON-escaped, UTF-16. */
function forms(secret: string): Buffer[] {
  return [
    Buffer.from(secret),
    Buffer.from(Buffer.from(secret).toString('base64').slice(0, -4)), // alignment-independent prefix
    Buffer.from(encodeURIComponent(secret)),
    Buffer.from(JSON.stringify(secret).slice(1, -1)),
    Buffer.from(secret, 'utf16le'),
  ];
}

function findSecrets(bytes: Buffer): string[] {
  const found: string[] = [];
  for (const [name, secret] of Object.entries(SECRETS)) {
    if (forms(secret).some((f) => bytes.includes(f))) found.push(name);
  }
  return found;
}

/** Every file under `dir`, with zip archives (Terraform's plan file) also read entry by entry. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(p));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

function unzipAll(file: string): Buffer {
  const script =
    'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nsys.stdout.buffer.write(b"".join(z.read(n) for n in z.namelist()))';
  return execFileSync('python3', ['-c', script, file], { maxBuffer: 256 * 1024 * 1024 });
}

interface Scan {
  where: string;
  found: string[];
}

async function scanEverything(): Promise<{ scans: Scan[]; workspaceFiles: string[]; zipped: string[] }> {
  const scans: Scan[] = [];
  // The SQLite database as it is on disk: the main file, its WAL and shared memory.
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    const file = temp.file + suffix;
    if (fs.existsSync(file)) scans.push({ where: path.basename(file), found: findSecrets(fs.readFileSync(file)) });
  }
  // The job's workspace: module copy, tfvars, state and its backup, plan, .terraform.
  const workspace = path.join(jobsWorkdir, jobId);
  const workspaceFiles = filesUnder(workspace);
  const zipped: string[] = [];
  for (const file of workspaceFiles) {
    const bytes = fs.readFileSync(file);
    scans.push({ where: path.relative(jobsWorkdir, file), found: findSecrets(bytes) });
    if (bytes.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]))) {
      zipped.push(file);
      scans.push({ where: `${path.relative(jobsWorkdir, file)} (unzipped)`, found: findSecrets(unzipAll(file)) });
    }
  }
  // The log table, line by line (what the UI and the API serve).
  const lines = await temp.db.selectFrom('job_logs').select('line').where('job_id', '=', jobId).execute();
  scans.push({ where: 'job_logs', found: findSecrets(Buffer.from(lines.map((l) => l.line).join('\n'))) });
  // Every other table, read back through SQL, in case a page of the file is compressed or moved.
  for (const table of ['jobs', 'job_steps', 'notifications', 'audit_log', 'idempotency_keys'] as const) {
    const rows = await temp.db.selectFrom(table).selectAll().execute();
    scans.push({ where: `table ${table}`, found: findSecrets(Buffer.from(JSON.stringify(rows))) });
  }
  // The workflow history as Temporal stores it (payloads as they are on the server).
  const history = History.fromObject(await client.workflow.getHandle(`job-${jobId}`).fetchHistory());
  scans.push({ where: 'temporal history', found: findSecrets(Buffer.from(History.encode(history).finish())) });
  return { scans, workspaceFiles, zipped };
}

describe('a job that used access keys leaves no key at rest', () => {
  it('runs to succeeded through the API with the keys in the child environment only', async () => {
    const res = await app.request('/api/jobs', {
      method: 'POST',
      headers: { ...bearer(), 'content-type': 'application/json', 'idempotency-key': `secrets-${crypto.randomUUID()}` },
      body: JSON.stringify({
        name: `secrets-${crypto.randomBytes(3).toString('hex')}`,
        requesterEmail: 'alice@example.com',
        region: 'us-east-1',
        auth: { method: 'access_keys', accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: SESSION_TOKEN },
        instance: { type: 't3.micro', volumeSizeGb: 20 },
        containers: [{ name: 'webapp', image: 'nginx:latest', ports: ['8080:80'], environment: { GREETING: 'hi' } }],
        usersCsv: 'username,email,role,display_name\nadmin,admin@example.com,admin,Administrator\n',
      }),
    });
    const text = await res.text();
    expect(res.status, text).toBe(201);
    expect(findSecrets(Buffer.from(text))).toEqual([]);
    const created = JSON.parse(text) as { id: string; status: string };
    jobId = created.id;
    // Keys are never stored, so such a job starts at creation.
    expect(created.status).toBe('running');

    const done = await waitForStatus(temp.db, jobId, ['succeeded', 'failed']);
    expect(done.error).toBeNull();
    expect(done.status).toBe('succeeded');
    // The worker's own environment was never touched.
    expect(process.env.AWS_ACCESS_KEY_ID).toBe('testing');
    expect(process.env.AWS_SESSION_TOKEN).toBeUndefined();
  });

  it('stored the spec with the key id masked and no secret key or token', async () => {
    const job = (await getJob(temp.db, jobId))!;
    expect(job.auth_method).toBe('access_keys');
    const spec = JSON.parse(job.spec_json);
    expect(spec.auth).toEqual({ method: 'access_keys', accessKeyId: `${KEY_ID.slice(0, 4)}…${KEY_ID.slice(-4)}` });
    const api = await app.request(`/api/jobs/${jobId}`, { headers: bearer() });
    const body = await api.text();
    expect(api.status).toBe(200);
    expect(findSecrets(Buffer.from(body))).toEqual([]);
    expect(JSON.parse(body).spec.auth.accessKeyId).toBe(`${KEY_ID.slice(0, 4)}…${KEY_ID.slice(-4)}`);
  });

  it('terraform printed the keys and the log kept only [REDACTED]', async () => {
    const lines = (await temp.db.selectFrom('job_logs').select('line').where('job_id', '=', jobId).execute()).map((l) => l.line);
    // The sandbox really echoed them (non-empty values, or the redaction would have nothing to hide).
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) {
      // The output lines, not the "Executing: [...]" line that quotes the command.
      const echoed = lines.filter((l) => l.includes(`(local-exec): env ${name}=`));
      expect(echoed.length, name).toBeGreaterThan(0);
      for (const l of echoed) expect(l, name).toMatch(new RegExp(`env ${name}=\\[REDACTED\\]`));
    }
    const logs = await app.request(`/api/jobs/${jobId}/logs?limit=1000`, { headers: bearer() });
    expect(logs.status).toBe(200);
    expect(findSecrets(Buffer.from(await logs.text()))).toEqual([]);
  });

  it('after success: no key in SQLite, the workspace, job_logs or the Temporal history', async () => {
    const { scans, workspaceFiles, zipped } = await scanEverything();
    // The scan looked where it matters.
    expect(scans.map((s) => s.where)).toContain('app.db');
    expect(workspaceFiles.map((f) => path.basename(f))).toEqual(
      expect.arrayContaining(['terraform.tfvars.json', 'terraform.tfstate', 'main.tf']),
    );
    expect(scans.filter((s) => s.found.length > 0)).toEqual([]);
    // The history holds the input, encrypted: it is there, just not readable.
    const history = History.fromObject(await client.workflow.getHandle(`job-${jobId}`).fetchHistory());
    const started = history.events[0].workflowExecutionStartedEventAttributes!;
    expect(Buffer.from(started.input!.payloads![0].metadata![METADATA_ENCODING_KEY]).toString()).toBe(ENCODING);
    console.log(
      `scanned ${scans.length} places; zip archives unpacked: ${zipped.map((z) => path.basename(z)).join(', ') || 'none'}`,
    );
  });

  it('after destroy as well', async () => {
    const res = await app.request(`/api/jobs/${jobId}/destroy`, { method: 'POST', headers: bearer() });
    expect(res.status, await res.text()).toBe(202);
    const done = await waitForStatus(temp.db, jobId, ['destroyed', 'failed']);
    expect(done.status).toBe('destroyed');
    const { scans } = await scanEverything();
    expect(scans.filter((s) => s.found.length > 0)).toEqual([]);
  });

  it('the scanner itself finds the secrets where they are (no false all-clear)', () => {
    expect(findSecrets(Buffer.from(`x${KEY_ID}y`))).toEqual(['KEY_ID']);
    expect(findSecrets(Buffer.from(JSON.stringify({ s: SECRET })))).toEqual(['SECRET']);
    expect(findSecrets(Buffer.from(Buffer.from(SESSION_TOKEN).toString('base64')))).toEqual(['SESSION_TOKEN']);
    expect(findSecrets(Buffer.from(SECRET, 'utf16le'))).toEqual(['SECRET']);
  });
});
