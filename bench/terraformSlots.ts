import { FINAL_FOR_RUN, jobSpecInput, type JobJson } from './lib/api.js';
import { commOf, descendantsOf, rssMb } from './lib/processes.js';
import { row, type Row } from './lib/report.js';
import { sampleRss, type App, type Infra } from './lib/stack.js';
import { mb, percentile, sec, sum } from './lib/stats.js';

/**
 * Workload 7: Terraform capacity. The worker runs with TERRAFORM_MAX_CONCURRENT
 * slots and gets three times as many jobs at once, so most of them wait for a
 * slot. Meanwhile probe jobs are started one after another: the time from a
 * probe's run request to its verify step's end is what a quick step costs
 * while the Terraform queue is full (each probe is cancelled after its verify,
 * which needs no slot either). Processes are counted from /proc: at no time
 * more terraform processes under the worker than slots.
 */

const W = '7 terraform slots';

export interface TerraformSlotsOptions {
  slots: number;
  jobs: number;
  probes: number;
  sleepSeconds: number;
  timeoutMs: number;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runTerraformSlots(infra: Infra, app: App, opts: TerraformSlotsOptions): Promise<Row[]> {
  const { api } = app;
  const ids: string[] = [];
  for (let i = 0; i < opts.jobs; i++) ids.push((await api.createJob(jobSpecInput('slots'))).id);
  const probeIds: string[] = [];
  for (let i = 0; i < opts.probes; i++) probeIds.push((await api.createJob(jobSpecInput('probe'))).id);

  // What runs under the worker: terraform processes at once (the bound) and their memory.
  const rss = sampleRss(app, 200);
  let terraformPeak = 0;
  let terraformRssPeak = 0;
  const processTimer = setInterval(() => {
    if (!app.worker) return;
    const terraform = descendantsOf(app.worker.nodePid).filter((p) => commOf(p) === 'terraform');
    terraformPeak = Math.max(terraformPeak, terraform.length);
    terraformRssPeak = Math.max(terraformRssPeak, sum(terraform.map((p) => rssMb(p) ?? 0)));
  }, 100);

  /** Whether any of the jobs says it waits for a Terraform slot now. */
  const queueFull = async (): Promise<boolean> => {
    for (const id of ids) {
      const job: JobJson = await api.getJob(id);
      if (job.waitingForWorker?.terraform) return true;
    }
    return false;
  };

  const from = Date.now();
  const seen = new Map<string, { status: string; at: number; error: string | null }>();
  const verifyMs: number[] = [];
  let probesWhileFull = 0;
  let memory: ReturnType<ReturnType<typeof sampleRss>['stop']>;
  try {
    await Promise.all(ids.map((id) => api.runJob(id)));
    const fullBy = Date.now() + 30_000;
    while (!(await queueFull())) {
      if (Date.now() > fullBy) throw new Error('no job said it waits for a Terraform slot within 30 s');
      await pause(100);
    }
    infra.log(`terraform slots: queue full ${sec(Date.now() - from)} after the run requests`);

    for (const id of probeIds) {
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
      verifyMs.push(verifiedAt - t0);
      if (await queueFull()) probesWhileFull++;
    }

    const deadline = Date.now() + opts.timeoutMs;
    const wanted = new Set([...ids, ...probeIds]);
    while (seen.size < wanted.size) {
      if (Date.now() > deadline) throw new Error(`only ${seen.size} of ${wanted.size} jobs finished within ${opts.timeoutMs} ms`);
      const { jobs } = await api.listJobs(200);
      const now = Date.now();
      for (const j of jobs) {
        if (wanted.has(j.id) && !seen.has(j.id) && FINAL_FOR_RUN.includes(j.status)) {
          seen.set(j.id, { status: j.status, at: j.finishedAt ? Date.parse(j.finishedAt) : now, error: j.error });
        }
      }
      await pause(250);
    }
  } finally {
    clearInterval(processTimer);
    memory = rss.stop();
    infra.mark(`terraform slots (${opts.jobs} jobs, ${opts.slots} slots)`, from, Date.now());
  }

  const runs = ids.map((id) => seen.get(id)!);
  const succeeded = runs.filter((s) => s.status === 'succeeded').length;
  const failed = runs.find((s) => s.status !== 'succeeded');
  if (failed) infra.log(`terraform slots: a job ended ${failed.status}: ${failed.error}`);
  const probesCancelled = probeIds.filter((id) => seen.get(id)?.status === 'cancelled').length;
  const wall = Math.max(...runs.map((s) => s.at)) - from;
  const p95 = percentile(verifyMs, 95);
  return [
    row(
      W,
      `${opts.jobs} jobs at once on ${opts.slots} Terraform slots (sandbox apply sleeps ${opts.sleepSeconds} s): succeeded`,
      `${succeeded} / ${opts.jobs}`,
      `all ${opts.jobs}`,
      succeeded === opts.jobs,
    ),
    row(W, 'wall time, first run request → last succeeded', sec(wall)),
    row(W, 'jobs per minute', ((opts.jobs / wall) * 60_000).toFixed(1)),
    row(
      W,
      'terraform processes under the worker at once, max',
      String(terraformPeak),
      `≤ ${opts.slots}`,
      terraformPeak <= opts.slots,
    ),
    row(
      W,
      `verify step while the queue is full: run request → verify done, p50 / p95 of ${verifyMs.length} probes (${probesWhileFull} still queued after)`,
      `${sec(percentile(verifyMs, 50))} / ${sec(p95)}`,
      `p95 < ${opts.sleepSeconds} s (one apply)`,
      p95 < opts.sleepSeconds * 1000,
    ),
    row(
      W,
      'probes cancelled after their verify (a cancel needs no slot)',
      `${probesCancelled} / ${opts.probes}`,
      `all ${opts.probes}`,
      probesCancelled === opts.probes,
    ),
    row(W, 'worker peak RSS', mb(memory.workerPeak)),
    row(W, '  terraform processes under the worker, peak RSS sum (not counted above)', mb(terraformRssPeak)),
  ];
}
