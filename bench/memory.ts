import fs from 'node:fs';
import path from 'node:path';
import { row, type Row } from './lib/report.js';
import { rssMb, type Service } from './lib/processes.js';
import type { App } from './lib/stack.js';
import { mb, median } from './lib/stats.js';

/**
 * Workload 5: memory at rest. RSS (VmRSS) of the web and worker node
 * processes once they are idle: after start, and again after workload 2 has
 * run 50 jobs through them. Median of a few samples after a settling pause.
 */

const W = '5 memory at rest';

export interface HeapShare {
  heapUsed: number;
  heapTotal: number;
  external: number;
}

export interface AtRest {
  web?: number;
  worker?: number;
  /** The main isolate's heap of each (process.memoryUsage() via the loop probe), MB. */
  webHeap?: HeapShare;
  workerHeap?: HeapShare;
}

function heapOf(app: App, service: Service | undefined): HeapShare | undefined {
  if (!service) return undefined;
  try {
    const m = JSON.parse(fs.readFileSync(path.join(app.probeDir, `${service.nodePid}.mem.json`), 'utf8'));
    const toMb = (v: number) => v / 2 ** 20;
    return { heapUsed: toMb(m.heapUsed), heapTotal: toMb(m.heapTotal), external: toMb(m.external) };
  } catch {
    return undefined;
  }
}

export async function memoryAtRest(app: App, settleMs: number): Promise<AtRest> {
  await new Promise((r) => setTimeout(r, settleMs));
  const web: number[] = [];
  const worker: number[] = [];
  for (let i = 0; i < 5; i++) {
    if (app.web) web.push(rssMb(app.web.nodePid) ?? Number.NaN);
    if (app.worker) worker.push(rssMb(app.worker.nodePid) ?? Number.NaN);
    await new Promise((r) => setTimeout(r, 400));
  }
  for (const s of [app.web, app.worker]) {
    try {
      if (s) process.kill(s.nodePid, 'SIGWINCH'); // the loop probe writes process.memoryUsage()
    } catch {
      // gone
    }
  }
  await new Promise((r) => setTimeout(r, 500));
  return {
    web: web.length ? median(web) : undefined,
    worker: worker.length ? median(worker) : undefined,
    webHeap: heapOf(app, app.web),
    workerHeap: heapOf(app, app.worker),
  };
}

/** How the RSS splits: the main isolate's JS heap (used / reserved), external buffers, and the rest (native). */
function splitRow(what: string, rss: number | undefined, h: HeapShare | undefined): Row[] {
  if (!h || rss === undefined) return [];
  const rest = rss - h.heapTotal - h.external;
  return [
    row(
      W,
      `  ${what}: main JS heap used / reserved, external, rest (native: threads' isolates, Temporal core, code)`,
      `${h.heapUsed.toFixed(0)} / ${h.heapTotal.toFixed(0)}, ${h.external.toFixed(0)}, ${rest.toFixed(0)} MB`,
    ),
  ];
}

export function memoryRows(afterStart: AtRest, afterLoad: AtRest | undefined, jobs: number): Row[] {
  const total = (m: AtRest) => (m.web ?? 0) + (m.worker ?? 0);
  const rows = [
    row(W, 'web RSS after start', mb(afterStart.web)),
    ...splitRow('web', afterStart.web, afterStart.webHeap),
    row(W, 'worker RSS after start', mb(afterStart.worker)),
    ...splitRow('worker', afterStart.worker, afterStart.workerHeap),
    row(W, 'web + worker after start', mb(total(afterStart)), '< 500 MB', total(afterStart) < 500),
  ];
  if (afterLoad) {
    rows.push(
      row(W, `web RSS after workload 2 (${jobs} jobs)`, mb(afterLoad.web)),
      ...splitRow('web', afterLoad.web, afterLoad.webHeap),
      row(W, `worker RSS after workload 2 (${jobs} jobs)`, mb(afterLoad.worker)),
      ...splitRow('worker', afterLoad.worker, afterLoad.workerHeap),
      row(W, 'web + worker after workload 2', mb(total(afterLoad)), '< 500 MB', total(afterLoad) < 500),
    );
  }
  return rows;
}
