import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BENCH_TOKEN } from './lib/api.js';
import { cpuSeconds, register } from './lib/processes.js';
import { row, type Row } from './lib/report.js';
import { prepareDataDir, startApp, type App, type Infra } from './lib/stack.js';
import { int, msFmt, sec } from './lib/stats.js';
import { seedDatabase } from './seed.js';

/**
 * Workload 4: pages and API under load. 100,000 jobs and 10,000,000 log
 * lines are written straight into the SQLite file (timed, with its size), then the web process alone is
 * started on it and wrk (a second process, 20 connections) loads the
 * dashboard, a job page, `GET /api/jobs` and a logs page in turn.
 */

const W = '4 pages under load';
const WRK_REPORT = path.join(import.meta.dirname, 'lib', 'wrkReport.lua');
const BASIC = `Basic ${Buffer.from('admin:admin').toString('base64')}`;
const BEARER = `Bearer ${BENCH_TOKEN}`;

interface WrkResult {
  requests: number;
  duration_us: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  status: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
}

function wrk(url: string, headers: Record<string, string>, seconds: number, connections: number): Promise<WrkResult> {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', WRK_REPORT];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = execFile('wrk', args, { timeout: (seconds + 30) * 1000 }, (err, stdout, stderr) => {
      forget();
      if (err) return reject(new Error(`wrk failed: ${(err as Error).message} ${stderr}`));
      const m = /BENCH_JSON (\{.*\})/.exec(stdout);
      if (!m) return reject(new Error(`wrk printed no report: ${stdout} ${stderr}`));
      resolve(JSON.parse(m[1]) as WrkResult);
    });
    const forget = register({ name: 'wrk', stop: async () => void child.kill('SIGKILL') });
  });
}

export function haveWrk(): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d && fs.existsSync(path.join(d, 'wrk')));
}

export async function runPages(
  infra: Infra,
  opts: { jobs: number; lines: number; bigJobLines: number; seconds: number; connections: number },
): Promise<Row[]> {
  if (!haveWrk()) throw new Error('wrk is not installed (apt-get install -y wrk)');
  const dataDir = path.join(infra.root, 'pages', 'data');
  const file = await prepareDataDir(dataDir);
  const seeded = seedDatabase(file, { jobs: opts.jobs, lines: opts.lines, bigJobLines: opts.bigJobLines });
  const mb = (seeded.bytes / 2 ** 20).toFixed(0);
  infra.log(`pages: seeded ${int(seeded.jobs)} jobs and ${int(seeded.lines)} log lines in ${sec(seeded.ms, 1)}, ${mb} MB`);

  let app: App | undefined;
  try {
    // The seeded jobs have no workflows: the reconciler would ask Temporal about every open one, each pass, under the load.
    app = await startApp(infra, { name: 'pages', worker: false, dataDir, env: { RECONCILE_INTERVAL_SECONDS: '0' } });
    const mid = Math.floor(opts.bigJobLines / 2);
    const targets: { name: string; path: string; headers: Record<string, string>; p99: number }[] = [
      { name: 'dashboard GET /', path: '/', headers: { authorization: BASIC, accept: 'text/html' }, p99: 50 },
      {
        name: 'job page GET /jobs/:id',
        path: `/jobs/${seeded.bigJobId}`,
        headers: { authorization: BASIC, accept: 'text/html' },
        p99: 50,
      },
      { name: 'GET /api/jobs', path: '/api/jobs', headers: { authorization: BEARER }, p99: 50 },
      {
        name: `logs page GET /api/jobs/:id/logs?after=${mid}&limit=1000`,
        path: `/api/jobs/${seeded.bigJobId}/logs?after=${mid}&limit=1000`,
        headers: { authorization: BEARER },
        p99: 50,
      },
    ];
    const rows: Row[] = [
      row(W, 'data', `${int(seeded.jobs)} jobs, ${int(seeded.lines)} log lines (${int(opts.bigJobLines)} in the loaded job)`),
      row(W, `seed: ${int(seeded.jobs)} jobs, ${int(seeded.lines)} lines written in`, sec(seeded.ms, 1)),
      row(W, 'database size (file and -wal)', `${mb} MB`),
    ];
    for (const t of targets) {
      const url = `${app.url}${t.path}`;
      const check = await fetch(url, { headers: t.headers, redirect: 'manual' });
      const body = await check.text();
      if (check.status !== 200) throw new Error(`${t.name} answered ${check.status}: ${body.slice(0, 200)}`);
      await wrk(url, t.headers, Math.min(3, opts.seconds), opts.connections); // warm-up, not counted
      const from = Date.now();
      // The web's own CPU per request: what a view costs, whatever else the machine is running meanwhile.
      const cpuBefore = cpuSeconds(app.web!.nodePid)?.self ?? Number.NaN;
      const r = await wrk(url, t.headers, opts.seconds, opts.connections);
      const cpuPerRequest = (((cpuSeconds(app.web!.nodePid)?.self ?? Number.NaN) - cpuBefore) * 1000) / r.requests;
      infra.mark(`pages: ${t.name}`, from, Date.now());
      const errors = r.status + r.connect + r.read + r.write + r.timeout;
      const p99 = r.p99 / 1000;
      const rps = r.requests / (r.duration_us / 1e6);
      infra.log(
        `pages: ${t.name}: p50 ${msFmt(r.p50 / 1000)}, p99 ${msFmt(p99)}, ${rps.toFixed(0)} req/s, ` +
          `web CPU ${cpuPerRequest.toFixed(2)} ms per request, ${(body.length / 1024).toFixed(0)} KB, load ${os.loadavg()[0].toFixed(1)}`,
      );
      rows.push(
        row(W, `${t.name} (${(body.length / 1024).toFixed(0)} KB): p50`, msFmt(r.p50 / 1000)),
        row(W, `${t.name}: p99`, msFmt(p99), `< ${t.p99} ms`, p99 < t.p99 && errors === 0),
        row(
          W,
          `${t.name}: requests/s (${opts.connections} connections)`,
          `${rps.toFixed(0)}${errors ? ` (${errors} errors)` : ''}`,
        ),
        row(W, `${t.name}: web CPU per request`, `${cpuPerRequest.toFixed(2)} ms`),
      );
    }
    return rows;
  } finally {
    await app?.stop();
  }
}
