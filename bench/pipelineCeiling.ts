import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { insertApplyingJob } from './lib/benchJobs.js';
import { prepareDataDir } from './lib/stack.js';
import { createDb } from '../src/db/database.js';
import { countLogLines } from '../src/db/logs.js';
import { LogSink } from '../src/activities/logSink.js';
import { runTerraform } from '../src/activities/terraformProcess.js';

/**
 * The pipeline ceiling: runTerraform + LogSink + SQLite with perl as the
 * child instead of terraform, in this process. Apart from the workload so it
 * can be run alone while working on the sink:
 *
 *   npx tsx bench/pipelineCeiling.ts [lines] [runs]
 */

const perlScript = (lines: number) => `$| = 1; printf qq(sandbox line %d t=%.0f\\n), $_, time * 1000 for 1 .. ${lines}`;

/** `cpuUsPerLine`: this process's CPU time per stored line, a figure less at the mercy of the machine's load than the rate. */
export async function pipelineCeiling(
  dataDir: string,
  lines: number,
): Promise<{ stored: number; rate: number; cpuUsPerLine: number }> {
  const db = createDb(await prepareDataDir(dataDir));
  try {
    const jobId = 'jpipelinealone';
    await insertApplyingJob(db, jobId);
    const sink = new LogSink({ db, jobId, step: 'apply', attempt: 1 });
    const t0 = Date.now();
    const cpu0 = process.cpuUsage();
    await runTerraform({
      binary: 'perl',
      cwd: dataDir,
      args: ['-MTime::HiRes=time', '-e', perlScript(lines)],
      env: {},
      sink,
      graceMs: 5_000,
    });
    await sink.close();
    const elapsed = Date.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const stored = (await countLogLines(db, jobId)) - 1; // minus the "$ perl …" line
    return { stored, rate: stored / (elapsed / 1000), cpuUsPerLine: (cpu.user + cpu.system) / stored };
  } finally {
    await db.destroy();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const lines = Number(process.argv[2] ?? 200_000);
  const runs = Number(process.argv[3] ?? 3);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pipeline-ceiling-'));
  try {
    for (let i = 0; i < runs; i++) {
      const r = await pipelineCeiling(path.join(root, `run${i}`), lines);
      console.log(
        `stored ${r.stored} lines at ${Math.round(r.rate)} lines/s, ${r.cpuUsPerLine.toFixed(2)} µs CPU a line (load ${os.loadavg()[0].toFixed(2)})`,
      );
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
