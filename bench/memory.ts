import fs from 'node:fs';
import path from 'node:path';
import { row, type Row } from './lib/report.js';
import { rssMb, type Service } from './lib/processes.js';
import type { App } from './lib/stack.js';
import { mb, median } from './lib/stats.js';

/**
 * Workload 5: memory at rest. RSS (VmRSS) of the web and worker node
 * processes (the compiled build, started as `npm run web` / `npm run worker`
 * start them) once they are idle: after start, and again after workload 2 has
 * run its jobs through them and they are idle again. Issue 20's targets:
 * web ≤ 80 MB, worker ≤ 160 MB. Each figure comes with how it splits, so a
 * missed target says where the memory is.
 */

const W = '5 memory at rest';
const TARGET_MB = { web: 80, worker: 160 } as const;
/** At least this long idle before sampling: timers of the Temporal client and the GC's idle work settle. */
const MIN_SETTLE_MS = 15_000;
/** Then sampled every second until the last few samples agree within this, or until the cap. */
const STABLE_WITHIN_MB = 1;
const STABLE_SAMPLES = 5;
const MAX_EXTRA_MS = 45_000;

/** One process's memory, MB. */
export interface MemoryOf {
  rss: number;
  /** The main isolate's JS heap: used / resident. */
  mainHeapUsed?: number;
  mainHeap?: number;
  /** Every other isolate's heap (resident), the worker's workflow threads among them; count of them. */
  threadHeaps?: number;
  threads?: number;
  /** Buffers and other memory outside the heaps that V8 knows of, all isolates. */
  external?: number;
  /** Resident pages backed by files (node's binary, the Temporal core library, …): smaps_rollup Rss − Anonymous. */
  fileBacked?: number;
}

export interface AtRest {
  web?: MemoryOf;
  worker?: MemoryOf;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resident file-backed pages in MB (Rss minus Anonymous of /proc/<pid>/smaps_rollup). */
export function fileBackedMb(pid: number): number | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1]);
    const v = (kb('Rss') - kb('Anonymous')) / 1024;
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

interface ThreadReport {
  main: boolean;
  heapUsed: number;
  heapTotal: number;
  /** The part of the heap in memory (v8 total_physical_size). */
  physical?: number;
  external: number;
}

const reportFiles = (app: App, pid: number) =>
  fs
    .readdirSync(app.probeDir)
    .filter((f) => f.startsWith(`${pid}.mem.`))
    .map((f) => path.join(app.probeDir, f));

/** The loop probe's per-isolate reports (see loopProbe.mjs), written on SIGWINCH. */
function threadReports(app: App, pid: number): ThreadReport[] {
  const out: ThreadReport[] = [];
  for (const file of reportFiles(app, pid)) {
    try {
      out.push(JSON.parse(fs.readFileSync(file, 'utf8')));
    } catch {
      // half written: leave it out
    }
  }
  return out;
}

function split(rss: number, reports: ThreadReport[], fileBacked: number | undefined): MemoryOf {
  const toMb = (v: number) => v / 2 ** 20;
  const main = reports.find((r) => r.main);
  const resident = (r: ThreadReport) => r.physical ?? r.heapTotal;
  const others = reports.filter((r) => !r.main);
  return {
    rss,
    mainHeapUsed: main && toMb(main.heapUsed),
    mainHeap: main && toMb(resident(main)),
    threadHeaps: main && toMb(others.reduce((s, r) => s + resident(r), 0)),
    threads: main && others.length,
    external: main && toMb(reports.reduce((s, r) => s + r.external, 0)),
    fileBacked,
  };
}

/** Waits until web and worker are idle and their RSS stable, then measures both. */
export async function memoryAtRest(app: App, settleMs: number): Promise<AtRest> {
  const services = { web: app.web, worker: app.worker };
  await sleep(Math.max(settleMs, MIN_SETTLE_MS));
  const samples: Record<string, number[]> = { web: [], worker: [] };
  const stable = (s: number[]) => {
    const last = s.slice(-STABLE_SAMPLES);
    return last.length === STABLE_SAMPLES && Math.max(...last) - Math.min(...last) <= STABLE_WITHIN_MB;
  };
  const deadline = Date.now() + MAX_EXTRA_MS;
  for (;;) {
    for (const [name, s] of Object.entries(services)) if (s) samples[name].push(rssMb(s.nodePid) ?? Number.NaN);
    const all = Object.entries(services).filter(([, s]) => s);
    if (all.every(([name]) => stable(samples[name])) || Date.now() > deadline) break;
    await sleep(1_000);
  }
  for (const s of Object.values(services)) {
    if (!s) continue;
    // The last call's reports go first: a thread since gone would count otherwise.
    for (const file of reportFiles(app, s.nodePid)) fs.rmSync(file, { force: true });
    try {
      process.kill(s.nodePid, 'SIGWINCH'); // the loop probe writes each isolate's heap
    } catch {
      // gone
    }
  }
  await sleep(1_000);
  const measure = (s: Service | undefined, name: string): MemoryOf | undefined =>
    s && split(median(samples[name].slice(-STABLE_SAMPLES)), threadReports(app, s.nodePid), fileBackedMb(s.nodePid));
  return { web: measure(services.web, 'web'), worker: measure(services.worker, 'worker') };
}

const f0 = (v: number | undefined) => (v === undefined ? '?' : v.toFixed(0));

/** How the RSS splits: JS heaps (main, other threads), external buffers, file-backed pages, and the rest (native). */
function splitRow(service: 'web' | 'worker', m: MemoryOf): Row[] {
  if (m.mainHeap === undefined) return [];
  const known = (m.mainHeap ?? 0) + (m.threadHeaps ?? 0) + (m.external ?? 0) + (m.fileBacked ?? 0);
  return [
    row(
      W,
      `  ${service}: main heap used / resident, ${m.threads} other threads' heaps, external, file-backed, rest (native: malloc, code, Temporal core)`,
      `${f0(m.mainHeapUsed)} / ${f0(m.mainHeap)}, ${f0(m.threadHeaps)}, ${f0(m.external)}, ${f0(m.fileBacked)}, ${f0(m.rss - known)} MB`,
    ),
  ];
}

function serviceRows(when: string, m: AtRest): Row[] {
  const out: Row[] = [];
  for (const service of ['web', 'worker'] as const) {
    const v = m[service];
    const target = TARGET_MB[service];
    out.push(
      row(W, `${service} RSS ${when}`, mb(v?.rss), `≤ ${target} MB`, v && Number.isFinite(v.rss) ? v.rss <= target : null),
    );
    if (v) out.push(...splitRow(service, v));
  }
  const total = (m.web?.rss ?? 0) + (m.worker?.rss ?? 0);
  out.push(row(W, `web + worker ${when}`, mb(total), '< 500 MB', total < 500));
  return out;
}

export function memoryRows(afterStart: AtRest, afterLoad: AtRest | undefined, jobs: number): Row[] {
  return [
    ...serviceRows('after start', afterStart),
    ...(afterLoad ? serviceRows(`at rest after workload 2 (${jobs} jobs)`, afterLoad) : []),
  ];
}
