import { FINAL_FOR_RUN, jobSpecInput, timeOneJob } from './lib/api.js';
import os from 'node:os';
import { cpuSeconds, descendantsOf, rssMb } from './lib/processes.js';
import { row, type Row } from './lib/report.js';
import { sampleRss, type App, type Infra } from './lib/stack.js';
import { mb, sec, sum } from './lib/stats.js';

/**
 * Workload 2: N jobs started at once (the sandbox's apply sleeps a few
 * seconds), against one job alone on the same worker. Wall time is from the
 * first run request to the last job seen `succeeded` through the API. The
 * worker's and web's RSS are sampled from /proc every 200 ms meanwhile.
 */

const W = '2 concurrency';

export async function inBatches<T, R>(items: T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

export async function runConcurrency(
  infra: Infra,
  app: App,
  opts: { jobs: number; singles: number; sleepSeconds: number; timeoutMs: number },
): Promise<Row[]> {
  const { api } = app;
  // One job alone; the last of `singles` runs counts (the first warms the worker up).
  let single = Number.NaN;
  for (let i = 0; i < opts.singles; i++) {
    single = (await timeOneJob(api, { prefix: 'single' })).ms;
    infra.log(`concurrency: single job ${i + 1}/${opts.singles}: ${sec(single)}`);
  }

  const ids = (await inBatches([...Array(opts.jobs).keys()], 10, () => api.createJob(jobSpecInput('many')))).map((j) => j.id);
  const wanted = new Set(ids);
  const rss = sampleRss(app, 200);
  let childrenPeak = 0;
  const childTimer = setInterval(() => {
    if (!app.worker) return;
    const total = sum(descendantsOf(app.worker.nodePid).map((p) => rssMb(p) ?? 0));
    childrenPeak = Math.max(childrenPeak, total);
  }, 500);

  const cpuNow = () => ({
    worker: app.worker ? cpuSeconds(app.worker.nodePid) : undefined,
    web: app.web ? cpuSeconds(app.web.nodePid) : undefined,
    temporal: infra.pids.temporal ? cpuSeconds(infra.pids.temporal) : undefined,
    moto: infra.pids.moto ? cpuSeconds(infra.pids.moto) : undefined,
  });
  const cpu0 = cpuNow();
  const from = Date.now();
  let memory: ReturnType<ReturnType<typeof sampleRss>['stop']>;
  // When each job finished: its finishedAt (epoch ms), or when the poll saw it final.
  const seen = new Map<string, { status: string; at: number; error: string | null }>();
  try {
    await Promise.all(ids.map((id) => api.runJob(id)));
    const accepted = Date.now() - from;
    infra.log(`concurrency: ${ids.length} run requests answered in ${sec(accepted)}`);
    const deadline = Date.now() + opts.timeoutMs;
    while (seen.size < ids.length) {
      if (Date.now() > deadline) throw new Error(`only ${seen.size} of ${ids.length} jobs finished within ${opts.timeoutMs} ms`);
      const { jobs } = await api.listJobs(200);
      const now = Date.now();
      for (const j of jobs) {
        if (wanted.has(j.id) && !seen.has(j.id) && FINAL_FOR_RUN.includes(j.status)) {
          seen.set(j.id, { status: j.status, at: j.finishedAt ? Date.parse(j.finishedAt) : now, error: j.error });
        }
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    clearInterval(childTimer);
    memory = rss.stop();
    infra.mark(`concurrency (${opts.jobs} jobs)`, from, Date.now());
  }

  const cpu1 = cpuNow();
  const used = (a?: { self: number; children: number }, b?: { self: number; children: number }) =>
    a && b ? { self: b.self - a.self, children: b.children - a.children } : { self: Number.NaN, children: Number.NaN };
  const workerCpu = used(cpu0.worker, cpu1.worker);
  const webCpu = used(cpu0.web, cpu1.web);
  const temporalCpu = used(cpu0.temporal, cpu1.temporal);
  const motoCpu = used(cpu0.moto, cpu1.moto);
  const succeeded = [...seen.values()].filter((s) => s.status === 'succeeded').length;
  const failures = [...seen.values()].filter((s) => s.status !== 'succeeded');
  if (failures.length)
    infra.log(`concurrency: ${failures.length} jobs did not succeed, e.g. ${failures[0].status}: ${failures[0].error}`);
  const wall = Math.max(...[...seen.values()].map((s) => s.at)) - from;
  const ratio = wall / single;
  return [
    row(W, `one job alone (sandbox apply sleeps ${opts.sleepSeconds} s)`, sec(single)),
    row(
      W,
      `${opts.jobs} jobs started at once: succeeded`,
      `${succeeded} / ${opts.jobs}`,
      `all ${opts.jobs}`,
      succeeded === opts.jobs,
    ),
    row(W, `${opts.jobs} jobs: wall time, first run request → last succeeded`, sec(wall)),
    row(W, 'wall time / one job alone', ratio.toFixed(2), '≤ 4', ratio <= 4),
    row(W, 'jobs per minute', ((opts.jobs / wall) * 60_000).toFixed(1)),
    row(W, 'worker peak RSS', mb(memory.workerPeak)),
    row(W, 'web peak RSS', mb(memory.webPeak)),
    row(W, 'web + worker peak RSS (sampled together)', mb(memory.sumPeak), '< 500 MB', memory.sumPeak < 500),
    row(W, '  terraform processes under the worker, peak RSS sum (not counted above)', mb(childrenPeak)),
    row(
      W,
      `  CPU used meanwhile: terraform (with its children) / worker / web / Temporal dev server / moto, of ${os.cpus().length} cores × wall`,
      `${[workerCpu.children, workerCpu.self, webCpu.self, temporalCpu.self, motoCpu.self].map((v) => v.toFixed(0)).join(' / ')} s of ${((os.cpus().length * wall) / 1000).toFixed(0)} s`,
    ),
  ];
}
