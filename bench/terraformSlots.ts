import fs from 'node:fs';
import { inBatches } from './concurrency.js';
import { FINAL_FOR_RUN, jobSpecInput, type Api, type JobJson } from './lib/api.js';
import { queueRecord, type QueueRecord } from './lib/historyTimings.js';
import { commOf, descendantsOf, rssMb } from './lib/processes.js';
import { row, type Row } from './lib/report.js';
import { sampleRss, type App, type Infra } from './lib/stack.js';
import { mb, median, percentile, sec, sum } from './lib/stats.js';
import { workflowIdFor } from '../src/domain/lifecycle.js';
import { isTerraformActivity } from '../src/domain/terraformCapacity.js';

/**
 * Workload 7: queueing. The worker runs with TERRAFORM_MAX_CONCURRENT slots
 * and gets many times as many jobs at once (created beforehand), so most of
 * them wait for a slot at each Terraform step. Meanwhile:
 * - every job still running is asked for in turn through the API
 *   (waitingForWorker: what its page shows); an answer given while, by the
 *   job's history, a Terraform step of it was queued should say "waiting for
 *   a worker";
 * - once every job is past its quick steps, probe jobs are started one after
 *   another, spread over the queue's time: the time from a probe's run
 *   request to its verify step's end is what a quick step costs while the
 *   Terraform queue is full (each probe is cancelled after its verify, which
 *   needs no slot either);
 * - terraform runs under the worker are counted from /proc: never more than
 *   slots.
 * Afterwards each job's Temporal history says whether any activity timed out
 * or was retried.
 */

const W = '7 terraform slots';

export interface TerraformSlotsOptions {
  slots: number;
  jobs: number;
  probes: number;
  /** Probes spread over the queue's full time rather than all in the start-up burst of the jobs' workflows. */
  probeEveryMs: number;
  sleepSeconds: number;
  timeoutMs: number;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

function parentOf(pid: number): number | undefined {
  try {
    // comm may hold spaces and parentheses: the fields after its closing one are plain.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/**
 * Terraform runs under the worker. Terraform starts its provider plugins by
 * fork and exec: between the two the child is a second process named
 * terraform, so one whose parent is a terraform is that child, not a run.
 */
function terraformRuns(workerPid: number): number[] {
  const terraform = descendantsOf(workerPid).filter((p) => commOf(p) === 'terraform');
  const set = new Set(terraform);
  // A process gone by now was such a child too (a run's process lives seconds): its parent can no longer be told.
  return terraform.filter((p) => {
    const parent = parentOf(p);
    return parent !== undefined && !set.has(parent);
  });
}

function describeProcess(pid: number): string {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    return `${pid} (parent ${parentOf(pid)}, ${commOf(pid)}): ${cmd.slice(0, 120)}`;
  } catch {
    return `${pid}: gone`;
  }
}

/** Asks the API for each unfinished job in turn, and remembers which said it waits for a Terraform slot. */
function watchPages(api: Api, ids: readonly string[]) {
  const saidWaiting = new Set<string>();
  /** When each job was asked about and what it said (epoch ms of the answer, waiting or not). */
  const asks = new Map<string, [number, boolean][]>(ids.map((id) => [id, []]));
  const final = new Set<string>();
  let waitingInLastRound = 0;
  let stopped = false;
  const done = (async () => {
    while (!stopped && final.size < ids.length) {
      let waiting = 0;
      for (const id of ids) {
        if (stopped) return;
        if (final.has(id)) continue;
        const asked = Date.now();
        const job: JobJson = await api.getJob(id);
        const said = Boolean(job.waitingForWorker?.terraform);
        asks.get(id)?.push([asked, said]);
        if (FINAL_FOR_RUN.includes(job.status)) final.add(id);
        else if (said) {
          saidWaiting.add(id);
          waiting++;
        }
      }
      waitingInLastRound = waiting;
    }
  })();
  return {
    saidWaiting,
    asks,
    waitingNow: () => waitingInLastRound,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

/** The jobs of the list through the API's pages (the newest 200 are not all of 300). */
async function listed(api: Api, wanted: ReadonlySet<string>): Promise<JobJson[]> {
  const out: JobJson[] = [];
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams({ limit: '200', ...(cursor ? { cursor } : {}) });
    const page: { jobs: JobJson[]; nextCursor: string | null } = await api.request('GET', `/api/jobs?${q}`);
    out.push(...page.jobs.filter((j) => wanted.has(j.id)));
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

/** The steps before a job's first Terraform step: none of them needs a slot. */
const QUICK_STEPS = new Set([null, 'verify', 'preflight', 'render']);

export async function runTerraformSlots(infra: Infra, app: App, opts: TerraformSlotsOptions): Promise<Row[]> {
  const { api } = app;
  // Each from a loopback address of its own, as in workload 2: the API limits creations per client.
  const ids = (await inBatches([...Array(opts.jobs).keys()], 10, () => api.createJob(jobSpecInput('slots')))).map((j) => j.id);
  const probeIds: string[] = [];
  for (let i = 0; i < opts.probes; i++) probeIds.push((await api.createJob(jobSpecInput('probe'))).id);

  const rss = sampleRss(app, 200);
  let terraformPeak = 0;
  let terraformRssPeak = 0;
  const processTimer = setInterval(() => {
    if (!app.worker) return;
    const runs = terraformRuns(app.worker.nodePid);
    if (runs.length > opts.slots && runs.length > terraformPeak) {
      infra.log(`queueing: ${runs.length} terraform runs at once: ${runs.map(describeProcess).join('; ')}`);
    }
    terraformPeak = Math.max(terraformPeak, runs.length);
    terraformRssPeak = Math.max(terraformRssPeak, sum(runs.map((p) => rssMb(p) ?? 0)));
  }, 100);

  const from = Date.now();
  const seen = new Map<string, { status: string; at: number; error: string | null }>();
  const verifyMs: number[] = [];
  let probes = 0;
  let memory: ReturnType<ReturnType<typeof sampleRss>['stop']>;
  const pages = watchPages(api, ids);
  try {
    await Promise.all(ids.map((id) => api.runJob(id)));
    infra.log(`queueing: ${ids.length} run requests answered in ${sec(Date.now() - from)}`);
    const fullBy = Date.now() + 60_000;
    while (pages.saidWaiting.size === 0) {
      if (Date.now() > fullBy) throw new Error('no job said it waits for a Terraform slot within 60 s');
      await pause(200);
    }
    infra.log(`queueing: a job waits for a slot ${sec(Date.now() - from)} after the first run request`);
    // The queue is full once every job is past its quick steps: a probe started before that waits behind the
    // burst of 300 workflows starting (their workflow tasks), not behind Terraform, and is not what is measured.
    const jobSet = new Set(ids);
    const burstBy = Date.now() + 300_000;
    while ((await listed(api, jobSet)).some((j) => !FINAL_FOR_RUN.includes(j.status) && QUICK_STEPS.has(j.step))) {
      if (Date.now() > burstBy) throw new Error('jobs still at their quick steps 5 min after the run requests');
      await pause(1_000);
    }
    infra.log(`queueing: every job past its quick steps ${sec(Date.now() - from)} after the first run request`);

    for (const id of probeIds) {
      if (probes) await pause(opts.probeEveryMs);
      const t0 = Date.now();
      await api.runJob(id);
      const deadline = t0 + 60_000;
      let verifiedAt: number | undefined;
      while (verifiedAt === undefined) {
        if (Date.now() > deadline) throw new Error(`probe ${id}: no verify within 60 s`);
        const verify = (await api.steps(id)).find((s) => s.step === 'verify' && s.state === 'succeeded');
        if (verify?.finishedAt) verifiedAt = Date.parse(verify.finishedAt);
        else await pause(50);
      }
      // Cancelled before it needs a slot: the queue stays the workload's jobs'.
      await api.request('POST', `/api/jobs/${encodeURIComponent(id)}/cancel`, {});
      const full = pages.waitingNow() > 0;
      // A probe after the queue emptied says nothing of a full queue: only the others count.
      if (full) verifyMs.push(verifiedAt - t0);
      probes++;
      infra.log(
        `queueing: probe ${probes}: verify done ${sec(verifiedAt - t0)} after its run request${full ? '' : ' (queue empty)'}`,
      );
    }

    const deadline = Date.now() + opts.timeoutMs;
    const wanted = new Set([...ids, ...probeIds]);
    while (seen.size < wanted.size) {
      if (Date.now() > deadline) throw new Error(`only ${seen.size} of ${wanted.size} jobs finished within ${opts.timeoutMs} ms`);
      const now = Date.now();
      for (const j of await listed(api, wanted)) {
        if (!seen.has(j.id) && FINAL_FOR_RUN.includes(j.status))
          seen.set(j.id, { status: j.status, at: j.finishedAt ? Date.parse(j.finishedAt) : now, error: j.error });
      }
      await pause(1_000);
    }
  } finally {
    clearInterval(processTimer);
    memory = rss.stop();
    await pages.stop();
    infra.mark(`queueing (${opts.jobs} jobs, ${opts.slots} slots)`, from, Date.now());
  }

  const runs = ids.map((id) => seen.get(id)!);
  const succeeded = runs.filter((s) => s.status === 'succeeded').length;
  const failed = runs.find((s) => s.status !== 'succeeded');
  if (failed) infra.log(`queueing: a job ended ${failed.status}: ${failed.error}`);
  const probesCancelled = probeIds.filter((id) => seen.get(id)?.status === 'cancelled').length;
  const wall = Math.max(...runs.map((s) => s.at)) - from;

  const records = new Map<string, QueueRecord>();
  const applyMs: number[] = [];
  await inBatches(ids, 10, async (id) => {
    records.set(id, await queueRecord(infra.temporal, workflowIdFor(id), isTerraformActivity));
    const apply = (await api.steps(id)).find((s) => s.step === 'apply' && s.state === 'succeeded');
    if (apply?.finishedAt) applyMs.push(Date.parse(apply.finishedAt) - Date.parse(apply.startedAt));
  });
  const all = [...records.values()];
  const timedOut = sum(all.map((r) => r.timedOut));
  const queueTimeouts = sum(all.map((r) => r.scheduleToStartTimeouts));
  const retries = sum(all.map((r) => r.retries));
  for (const r of all.flatMap((x) => x.retried)) infra.log(`queueing: retried ${r}`);
  // Queued when asked: the answer came in a Terraform wait, past the page's one-second hand-off and the
  // age of Temporal's answer the web may serve (up to 2.5 s while it asks again, src/api/temporalView.ts),
  // with half a second's margin at the end (one machine's clock).
  const queuedAsks = (id: string) =>
    (pages.asks.get(id) ?? []).filter(([at]) =>
      (records.get(id)?.terraformWaits ?? []).some(([from, to]) => at > from + 3_500 && at < to - 500),
    );
  const queued = ids.filter((id) => queuedAsks(id).length > 0);
  const queuedSaid = queued.filter((id) => queuedAsks(id).some(([, said]) => said)).length;
  const asksQueued = sum(queued.map((id) => queuedAsks(id).length));
  const asksSaid = sum(queued.map((id) => queuedAsks(id).filter(([, said]) => said).length));
  for (const id of queued.filter((i) => !queuedAsks(i).some(([, said]) => said))) {
    infra.log(`queueing: job ${id} was asked ${queuedAsks(id).length} times while queued and never said waiting`);
  }
  const apply = median(applyMs);
  const p95 = percentile(verifyMs, 95);
  return [
    row(
      W,
      `${opts.jobs} jobs at once on ${opts.slots} Terraform slots (sandbox apply sleeps ${opts.sleepSeconds} s): succeeded`,
      `${succeeded} / ${opts.jobs}`,
      `all ${opts.jobs}`,
      succeeded === opts.jobs,
    ),
    row(
      W,
      'activities timed out / retried, from the jobs’ Temporal histories',
      `${timedOut} / ${retries}${queueTimeouts ? ` (${queueTimeouts} waits for a worker scheduled again)` : ''}`,
      'none timed out while queued',
      timedOut - queueTimeouts === 0 && retries === 0,
    ),
    row(
      W,
      `jobs asked while a Terraform step of theirs was queued whose API/page said "waiting for a worker" (answers: ${asksSaid} / ${asksQueued})`,
      `${queuedSaid} / ${queued.length}`,
      'all',
      queuedSaid === queued.length,
    ),
    row(W, 'wall time, first run request → last succeeded', sec(wall)),
    row(W, 'jobs per minute', ((opts.jobs / wall) * 60_000).toFixed(1)),
    row(W, 'terraform runs under the worker at once, max', String(terraformPeak), `≤ ${opts.slots}`, terraformPeak <= opts.slots),
    row(
      W,
      `verify step while the queue is full: run request → verify done, p50 / p95 / max of the ${verifyMs.length} of ${probes} probes (one every ${sec(opts.probeEveryMs, 0)}) with jobs still waiting after`,
      `${sec(percentile(verifyMs, 50))} / ${sec(p95)} / ${sec(Math.max(...verifyMs))}`,
      `p95 < one apply step (median ${sec(apply)})`,
      p95 < apply,
    ),
    row(
      W,
      'probes cancelled after their verify (a cancel needs no slot)',
      `${probesCancelled} / ${opts.probes}`,
      `all ${opts.probes}`,
      probesCancelled === opts.probes,
    ),
    row(W, 'worker peak RSS', mb(memory.workerPeak)),
    row(W, '  terraform runs under the worker, peak RSS sum (not counted above)', mb(terraformRssPeak)),
  ];
}
