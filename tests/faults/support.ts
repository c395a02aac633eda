import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { listSteps } from '../../src/db/jobs.js';
import type { ServiceProcesses } from '../support/serviceProcesses.js';
import { waitFor } from '../support/processes.js';

/** What the fault tests do through the REST API, as a person or script would. */

export interface ApiJob {
  id: string;
  status: string;
  step: string | null;
  error: string | null;
  hasResources: boolean;
}

export function faultSpec(name: string, email: string) {
  return {
    name,
    requesterEmail: email,
    region: 'us-east-1',
    auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/Provisioner', externalId: 'faults-1' },
    instance: { type: 't3.micro', volumeSizeGb: 20 },
    containers: [{ name: 'webapp', image: 'nginx:latest', ports: ['8080:80'] }],
  };
}

export async function createAndRun(svc: ServiceProcesses, name: string, email: string): Promise<string> {
  const created = await svc.api('/api/jobs', { method: 'POST', body: JSON.stringify(faultSpec(name, email)) });
  expect(created.status, await created.clone().text()).toBe(201);
  const { id } = (await created.json()) as ApiJob;
  const run = await svc.api(`/api/jobs/${id}/run`, { method: 'POST' });
  expect(run.status, await run.clone().text()).toBe(202);
  return id;
}

export async function getJob(svc: ServiceProcesses, id: string): Promise<ApiJob> {
  const res = await svc.api(`/api/jobs/${id}`);
  if (res.status !== 200) throw new Error(`GET /api/jobs/${id}: ${res.status} ${await res.text()}`);
  return (await res.json()) as ApiJob;
}

const FINAL = ['succeeded', 'failed', 'cancelled', 'rejected', 'destroyed'];

export async function waitForJobs(
  svc: ServiceProcesses,
  ids: string[],
  statuses: string[] = FINAL,
  timeoutMs = 240_000,
): Promise<ApiJob[]> {
  return waitFor(
    `jobs to reach ${statuses.join('|')}`,
    async () => {
      const jobs = await Promise.all(ids.map((id) => getJob(svc, id)));
      return jobs.every((j) => statuses.includes(j.status)) ? jobs : undefined;
    },
    timeoutMs,
    1_000,
  ).catch(async (err) => {
    const now = await Promise.all(ids.map((id) => getJob(svc, id).catch((e) => ({ id, status: String(e) }))));
    throw new Error(`${(err as Error).message}; now: ${JSON.stringify(now)}`);
  });
}

export interface LogLine {
  seq: number;
  line: string;
  step: string;
  attempt: number;
}

export async function readAllLogs(svc: ServiceProcesses, id: string): Promise<LogLine[]> {
  const lines: LogLine[] = [];
  let after = 0;
  for (;;) {
    const res = await svc.api(`/api/jobs/${id}/logs?after=${after}&limit=1000`);
    if (res.status !== 200) throw new Error(`logs of ${id}: ${res.status}`);
    const page = (await res.json()) as { lines: LogLine[]; nextAfter: number; hasMore: boolean };
    lines.push(...page.lines);
    after = page.nextAfter;
    if (!page.hasMore) return lines;
  }
}

/**
 * Reads every job's log through the API while faults happen, remembering each
 * line the API acknowledged; `check` then asserts that all of them are still
 * there, unchanged.
 */
export function watchLogs(svc: ServiceProcesses, ids: string[]) {
  const seen = new Map<string, Map<number, string>>(ids.map((id) => [id, new Map()]));
  let reads = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      for (const id of ids) {
        try {
          for (const l of await readAllLogs(svc, id)) seen.get(id)!.set(l.seq, l.line);
          reads++;
        } catch {
          // The web process may be restarting: the next round reads again.
        }
      }
      await new Promise((r) => setTimeout(r, 750));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
    },
    get reads() {
      return reads;
    },
    seenCount: () => [...seen.values()].reduce((n, m) => n + m.size, 0),
    async check() {
      for (const id of ids) {
        const now = new Map((await readAllLogs(svc, id)).map((l) => [l.seq, l.line]));
        for (const [seq, line] of seen.get(id)!) {
          expect(now.get(seq), `job ${id} line ${seq} was shown, then lost`).toBe(line);
        }
        // Sequence numbers stay gapless: no line stored twice, none dropped in between.
        expect([...now.keys()].sort((a, b) => a - b)).toEqual([...now.keys()].map((_, i) => i + 1));
      }
    },
  };
}

/** The resources of a job's local Terraform state, by address (with count index). */
export function stateAddresses(jobsWorkdir: string, id: string): string[] {
  const file = path.join(jobsWorkdir, id, 'terraform.tfstate');
  const state = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    resources: { type: string; name: string; instances: { index_key?: number }[] }[];
  };
  return state.resources.flatMap((r) =>
    r.instances.map((i) => `${r.type}.${r.name}${i.index_key !== undefined ? `[${i.index_key}]` : ''}`),
  );
}

/** Kills the Terraform process group a job's step left running (its pid file), as a node loss would. */
export function killTerraformOf(jobsWorkdir: string, id: string): boolean {
  try {
    const pgid = Number(fs.readFileSync(path.join(jobsWorkdir, id, '.terraform-run.pid'), 'utf8').trim());
    process.kill(-pgid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until every job's apply has printed a line matching `pattern` (the sandbox's "creating instance" by default). */
export async function waitForApplyLine(svc: ServiceProcesses, ids: string[], pattern = /creating instance/): Promise<void> {
  await waitFor(
    'the applies to print',
    async () => {
      for (const id of ids) {
        if (!(await readAllLogs(svc, id)).some((l) => l.step === 'apply' && pattern.test(l.line))) return false;
      }
      return true;
    },
    120_000,
    200,
  );
}

/**
 * A job's steps once none is running. A succeeded job's email step runs after
 * its status is set, so "settled" is waited for rather than read at once; a
 * step left running for good still fails the wait.
 */
export async function settledSteps(svc: ServiceProcesses, id: string, timeoutMs = 60_000) {
  let last: Awaited<ReturnType<typeof listSteps>> = [];
  return waitFor(
    `the steps of ${id} to settle`,
    async () => {
      last = await listSteps(svc.db, id);
      return last.some((s) => s.state === 'running') ? undefined : last;
    },
    timeoutMs,
    250,
  ).catch((err) => {
    const running = last.filter((s) => s.state === 'running').map((s) => `${s.step}#${s.attempt}`);
    throw new Error(`${(err as Error).message}; still running: ${running.join(', ')}`);
  });
}
