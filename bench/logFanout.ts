import { spawn } from 'node:child_process';
import path from 'node:path';
import { createDb } from '../src/db/database.js';
import { updateJob } from '../src/db/jobs.js';
import { appendLogLines, type LogLineInput } from '../src/db/logs.js';
import { BENCH_TOKEN } from './lib/api.js';
import { insertApplyingJob } from './lib/benchJobs.js';
import { cpuSeconds, register } from './lib/processes.js';
import { row, type Row } from './lib/report.js';
import { prepareDataDir, startApp, type Infra } from './lib/stack.js';
import { int, msFmt } from './lib/stats.js';

/**
 * Workload 8: live-log fan-out. The web process alone on a database where
 * jobs are running; a second process opens hundreds of SSE streams on them
 * (as many browsers would) while this one writes log lines at a steady rate,
 * each carrying the time it was written. Reported: whether every viewer got
 * every line in order, written-to-viewer latency (line stored → event read),
 * and the web's CPU while it lasts.
 */

const W = '8 live-log fan-out';
const VIEWERS_SCRIPT = path.join(import.meta.dirname, 'lib', 'sseViewers.mjs');

interface ViewersResult {
  viewers: number;
  complete: number;
  errors: string[];
  received: number;
  p50: number;
  p95: number;
  max: number;
  cores: number;
}

export interface FanoutCase {
  viewers: number;
  jobs: number;
  /** Lines per second over all jobs together. */
  linesPerSecond: number;
  seconds: number;
}

export async function runLogFanout(infra: Infra, cases: FanoutCase[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [i, c] of cases.entries()) rows.push(...(await oneCase(infra, c, `fanout${i + 1}`)));
  return rows;
}

async function oneCase(infra: Infra, c: FanoutCase, name: string): Promise<Row[]> {
  const dataDir = path.join(infra.root, name, 'data');
  const file = await prepareDataDir(dataDir);
  const db = createDb(file);
  const jobIds = Array.from({ length: c.jobs }, (_, i) => `${name}j${i}`);
  for (const id of jobIds) await insertApplyingJob(db, id);
  const app = await startApp(infra, {
    name,
    worker: false,
    dataDir,
    env: { LOG_STREAMS_PER_PRINCIPAL: String(c.viewers), LOG_STREAMS_TOTAL: String(c.viewers * 2) },
  });
  const perJob = Math.round((c.linesPerSecond * c.seconds) / c.jobs);
  try {
    const viewers = spawn(
      process.execPath,
      [
        VIEWERS_SCRIPT,
        app.url,
        BENCH_TOKEN,
        JSON.stringify(jobIds),
        String(c.viewers),
        String(perJob),
        String((c.seconds + 60) * 1000),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const forget = register({ name: 'sse viewers', stop: async () => void viewers.kill('SIGKILL') });
    let out = '';
    const opened = new Promise<void>((resolve, reject) => {
      viewers.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('OPEN')) resolve();
      });
      viewers.once('exit', () => reject(new Error(`the viewers exited before all streams opened: ${out.slice(-500)}`)));
    });
    const result = new Promise<ViewersResult>((resolve, reject) => {
      viewers.once('exit', () => {
        forget();
        const m = /RESULT (\{.*\})/.exec(out);
        if (m) resolve(JSON.parse(m[1]) as ViewersResult);
        else reject(new Error(`the viewers printed no result: ${out.slice(-500)}`));
      });
    });
    await opened;
    infra.log(
      `${name}: ${c.viewers} streams open on ${c.jobs} job(s); writing ${int(c.linesPerSecond)} lines/s for ${c.seconds} s`,
    );

    // Every 50 ms, each job's share of the rate, stamped with the time it is written.
    const tickMs = 50;
    const ticks = (c.seconds * 1000) / tickMs;
    const cpu0 = cpuSeconds(app.web!.nodePid);
    const t0 = Date.now();
    let lineNo = 0;
    for (let tick = 0; tick < ticks; tick++) {
      const due = t0 + tick * tickMs;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      for (const id of jobIds) {
        const count = Math.round(((tick + 1) * perJob) / ticks) - Math.round((tick * perJob) / ticks);
        if (count === 0) continue;
        const written = Date.now();
        const lines: LogLineInput[] = Array.from({ length: count }, () => ({
          step: 'apply',
          attempt: 1,
          stream: 'stdout',
          lineNo: ++lineNo,
          ts: new Date(written).toISOString(),
          line: `t=${written} aws_instance.this: Still creating... [${lineNo}s elapsed]`,
        }));
        await appendLogLines(db, id, lines);
      }
    }
    const elapsed = (Date.now() - t0) / 1000;
    const cpu1 = cpuSeconds(app.web!.nodePid);
    const cores = cpu0 && cpu1 ? (cpu1.self - cpu0.self) / elapsed : Number.NaN;
    const r = await result;
    for (const id of jobIds) await updateJob(db, id, { status: 'destroyed' });
    infra.log(
      `${name}: ${r.complete}/${r.viewers} viewers got all ${int(perJob)} lines of their job; p50 ${msFmt(r.p50)}, p95 ${msFmt(r.p95)}, max ${msFmt(r.max)}; web ${cores.toFixed(2)} cores${r.errors.length ? `; errors: ${r.errors.join(' | ')}` : ''}`,
    );
    const label = `${c.viewers} viewers on ${c.jobs} job${c.jobs > 1 ? 's' : ''}, ${int(c.linesPerSecond)} lines/s`;
    return [
      row(W, `${label}: viewers that got every line, in order`, `${r.complete} of ${r.viewers}`, 'all', r.complete === r.viewers),
      row(W, `${label}: written-to-viewer p95`, msFmt(r.p95), '< 500 ms', r.complete === r.viewers && r.p95 < 500),
      row(W, `${label}: web CPU`, `${cores.toFixed(2)} cores`, '< 1 core', cores < 1),
      row(W, `${label}: the viewers' own CPU (one process for all)`, `${r.cores.toFixed(2)} cores`),
    ];
  } finally {
    await app.stop();
    await db.destroy();
  }
}
