import http from 'node:http';

/** The REST API as a script uses it: bearer token, JSON in and out. */

export const BENCH_TOKEN = 'bench-token';

export interface JobJson {
  id: string;
  name: string;
  status: string;
  step: string | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** GET /api/jobs/:id only: the step scheduled that no worker has taken yet. */
  waitingForWorker?: { step: string; terraform: boolean; since: string } | null;
}

export interface StepJson {
  step: string;
  attempt: number;
  state: string;
  startedAt: string;
  finishedAt: string | null;
}

export interface LogLineJson {
  seq: number;
  ts: string;
  step: string;
  stream: string;
  line: string;
}

export const FINAL_FOR_RUN = ['succeeded', 'failed', 'cancelled', 'rejected'];

let counter = 0;
/** A valid job spec, the same shape as tests/support/jobs.ts sampleSpec (assume_role: moto accepts any role). */
export function jobSpecInput(prefix = 'bench'): Record<string, unknown> {
  counter += 1;
  return {
    name: `${prefix}-${process.pid}-${counter}`,
    requesterEmail: 'alice@example.com',
    region: 'us-east-1',
    auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/Provisioner', externalId: 'tenant-42' },
    instance: { type: 't3.micro', volumeSizeGb: 20 },
    containers: [{ name: 'webapp', image: 'nginx:latest', ports: ['8080:80'], environment: { GREETING: 'hi' } }],
    usersCsv: 'username,email,role,display_name\nadmin,admin@example.com,admin,Administrator\n',
    options: { requireApproval: false },
  };
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export class Api {
  constructor(
    readonly baseUrl: string,
    private readonly token = BENCH_TOKEN,
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    if (!res.ok) throw new ApiError(`${method} ${path} answered ${res.status}: ${text.slice(0, 400)}`, res.status);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  #creates = 0;

  /**
   * POST /api/jobs from a loopback address of its own (127.1.x.y): the API
   * allows 30 job creations per minute per client address, and the benchmark
   * stands for many clients, not one script creating 50 jobs.
   */
  createJob(spec: Record<string, unknown> = jobSpecInput()): Promise<JobJson> {
    const n = this.#creates++;
    const localAddress = `127.1.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
    const body = JSON.stringify(spec);
    const url = new URL('/api/jobs', this.baseUrl);
    return new Promise<JobJson>((resolve, reject) => {
      const req = http.request(
        url,
        {
          method: 'POST',
          localAddress,
          timeout: 60_000,
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: 'application/json',
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            if (res.statusCode !== 201) {
              reject(new ApiError(`POST /api/jobs answered ${res.statusCode}: ${text.slice(0, 400)}`, res.statusCode ?? 0));
            } else resolve(JSON.parse(text) as JobJson);
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('POST /api/jobs timed out')));
      req.on('error', reject);
      req.end(body);
    });
  }

  runJob(id: string): Promise<JobJson> {
    return this.request<JobJson>('POST', `/api/jobs/${encodeURIComponent(id)}/run`);
  }

  getJob(id: string): Promise<JobJson> {
    return this.request<JobJson>('GET', `/api/jobs/${encodeURIComponent(id)}`);
  }

  listJobs(limit = 200, status?: string): Promise<{ jobs: JobJson[]; nextCursor: string | null }> {
    const q = new URLSearchParams({ limit: String(limit), ...(status ? { status } : {}) });
    return this.request('GET', `/api/jobs?${q}`);
  }

  async steps(id: string): Promise<StepJson[]> {
    return (await this.request<{ steps: StepJson[] }>('GET', `/api/jobs/${encodeURIComponent(id)}/steps`)).steps;
  }

  logs(id: string, after: number, limit: number): Promise<{ lines: LogLineJson[]; nextAfter: number; hasMore: boolean }> {
    return this.request('GET', `/api/jobs/${encodeURIComponent(id)}/logs?after=${after}&limit=${limit}`);
  }

  /** Polls one job until it reaches a final status of a run; resolves with the job and when that was seen. */
  async waitFinal(id: string, opts: { everyMs?: number; timeoutMs?: number } = {}): Promise<{ job: JobJson; seenAt: number }> {
    const deadline = Date.now() + (opts.timeoutMs ?? 600_000);
    for (;;) {
      const job = await this.getJob(id);
      if (FINAL_FOR_RUN.includes(job.status)) return { job, seenAt: performance.now() };
      if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} at ${job.step} after ${opts.timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, opts.everyMs ?? 50));
    }
  }
}

/**
 * Creates and runs one job; ms from the run request to `succeeded`. The end is
 * the job's `finishedAt` (written with the status), read through the API by a
 * slow poll: polling fast would load the same two cores the job runs on.
 */
export async function timeOneJob(api: Api, opts: { everyMs?: number; timeoutMs?: number; prefix?: string } = {}) {
  const created = await api.createJob(jobSpecInput(opts.prefix));
  const t0 = Date.now();
  await api.runJob(created.id);
  const { job } = await api.waitFinal(created.id, { everyMs: opts.everyMs ?? 250, timeoutMs: opts.timeoutMs ?? 180_000 });
  if (job.status !== 'succeeded') throw new Error(`job ${job.id} ended ${job.status}: ${job.error ?? ''}`);
  if (!job.finishedAt) throw new Error(`job ${job.id} succeeded without finishedAt`);
  return { id: created.id, ms: Date.parse(job.finishedAt) - t0 };
}
