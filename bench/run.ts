import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runConcurrency } from './concurrency.js';
import { runLogFanout } from './logFanout.js';
import { runLogPipeline, logVars } from './logPipeline.js';
import { memoryAtRest, memoryRows, type AtRest } from './memory.js';
import { runOverhead } from './overhead.js';
import { runPages } from './pages.js';
import { runRedaction } from './redaction.js';
import { runStartup } from './startup.js';
import { runTerraformSlots } from './terraformSlots.js';
import { installSignalHandlers, stopAll, sweep } from './lib/processes.js';
import { failedRow, markdownTable, row, textTable, type Row } from './lib/report.js';
import { startApp, startInfra, type App, type Infra } from './lib/stack.js';

/**
 * `npm run bench`: the whole service for real on this machine (Temporal dev
 * server, moto, the worker and web processes, the sandbox Terraform module),
 * nine workloads, one table. It reports and exits 0 whatever the figures.
 *
 *   --quick           reduced sizes, for a smoke check
 *   --only=1,3        run only these workloads (5 comes with 2; 6, redaction, needs no services; 7: Terraform slots; 8: live-log fan-out; 9: start-up)
 *   --markdown=FILE   also write the table as Markdown (for the README)
 *   --profile         run web and worker with --cpu-prof (profiles are kept)
 *   --keep            keep the temporary directory (logs, databases, workspaces)
 *   --env=NAME=VALUE  more environment for the web and worker processes (repeatable)
 */

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const option = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

const quick = flag('quick');
const only = new Set((option('only') ?? '1,2,3,4,5,6,7,8,9').split(',').map((s) => s.trim()));
if (only.has('5')) only.add('2');
const profile = flag('profile');
const keep = flag('keep') || profile;
const markdownFile = option('markdown');
const appEnv = Object.fromEntries(
  argv.filter((a) => a.startsWith('--env=')).map((a) => [a.slice(6, a.indexOf('=', 6)), a.slice(a.indexOf('=', 6) + 1)]),
);

const sizes = quick
  ? {
      overheadRuns: 3,
      jobs: 10,
      singles: 1,
      sleepSeconds: 2,
      logLines: 20_000,
      seedJobs: 2_000,
      seedLines: 200_000,
      bigJobLines: 20_000,
      loadSeconds: 3,
      terraformSlots: { slots: 2, jobs: 6, probes: 5, probeEveryMs: 0, sleepSeconds: 3 },
      startupRuns: 1,
      fanout: [
        { viewers: 100, jobs: 1, linesPerSecond: 2_000, seconds: 3 },
        { viewers: 50, jobs: 10, linesPerSecond: 2_000, seconds: 3 },
      ],
    }
  : {
      overheadRuns: 10,
      jobs: 50,
      singles: 2,
      sleepSeconds: 5,
      logLines: 200_000,
      seedJobs: 100_000,
      seedLines: 10_000_000,
      bigJobLines: 200_000,
      loadSeconds: 15,
      // 75 jobs per slot: each job waits for a slot at each of its Terraform steps, for minutes.
      terraformSlots: { slots: 4, jobs: 300, probes: 10, probeEveryMs: 10_000, sleepSeconds: 1 },
      startupRuns: 3,
      fanout: [
        { viewers: 500, jobs: 1, linesPerSecond: 2_000, seconds: 10 },
        { viewers: 200, jobs: 50, linesPerSecond: 2_000, seconds: 10 },
      ],
    };

/** Thrown past the services' set-up when no workload asked for needs them. */
const NO_SERVICES = Symbol('no workload needs the services');

const started = Date.now();
const log = (message: string) => {
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[bench ${t}s] ${message}\n`);
};

function version(cmd: string, args: string[]): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null' } });
  if (res.error) return `${cmd} not found`;
  // wrk prints its version on stdout and exits 1.
  return `${res.stdout}${res.stderr}`
    .split('\n')[0]
    .replace(/ \[.*$/, '')
    .trim();
}

function machine(): string[] {
  const cpus = os.cpus();
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  return [
    `machine: ${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown CPU'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GB memory, ` +
      `${os.type()} ${os.release()}`,
    `software: node ${process.version}, ${version('terraform', ['version'])}, ${version('wrk', ['-v'])}`,
    `load average at start (1, 5, 15 min): ${load}`,
    `sizes: ${quick ? 'QUICK (reduced)' : 'full'}: ${JSON.stringify(sizes)}`,
  ];
}

async function withApp(
  infra: Infra,
  name: string,
  extraVars: Record<string, unknown> | undefined,
  fn: (app: App) => Promise<Row[]>,
  env?: Record<string, string>,
): Promise<Row[]> {
  const app = await startApp(infra, { name, extraVars, env: { ...env, ...appEnv } });
  try {
    return await fn(app);
  } finally {
    await app.stop();
  }
}

async function main() {
  const header = machine();
  for (const line of header) log(line);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'prov-bench-'));
  installSignalHandlers(log, () => {
    if (keep) log(`kept ${root}`);
    else fs.rmSync(root, { recursive: true, force: true });
    log('stopped');
  });
  const cpuProfDir = profile ? path.join(root, 'cpu-profiles') : undefined;
  log(`working directory: ${root}`);

  const rows: Row[] = [];
  const attempt = async (workload: string, fn: () => Promise<Row[]>) => {
    log(`--- workload ${workload}`);
    const t0 = Date.now();
    try {
      rows.push(...(await fn()));
    } catch (err) {
      log(`workload ${workload} failed: ${(err as Error).stack ?? err}`);
      rows.push(failedRow(workload, err));
    }
    log(`workload ${workload} took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  };

  if (only.has('6')) await attempt('6 redaction', async () => runRedaction());
  let infra: Infra | undefined;
  try {
    // Only the redaction workload runs without the services.
    if (![...only].some((w) => w !== '6')) throw NO_SERVICES;
    infra = await startInfra(root, log, cpuProfDir);
    const inf = infra;
    if (only.has('1')) {
      await attempt('1 overhead', () =>
        // The instance's own boot (its first-boot script lets containers settle, 1 s in the sandbox, 15 s on
        // EC2) is not orchestration, and bare Terraform boots nothing: the sandbox's settle is 0 here.
        withApp(inf, 'overhead', { sandbox_instance_settle_seconds: 0 }, (app) =>
          runOverhead(inf, app, { runs: sizes.overheadRuns }),
        ),
      );
    }
    if (only.has('2')) {
      let atStart: AtRest | undefined;
      let afterLoad: AtRest | undefined;
      await attempt('2 concurrency', () =>
        withApp(inf, 'concurrency', { sandbox_sleep_seconds: { apply: sizes.sleepSeconds } }, async (app) => {
          atStart = await memoryAtRest(app, 5_000);
          try {
            return await runConcurrency(inf, app, {
              jobs: sizes.jobs,
              singles: sizes.singles,
              sleepSeconds: sizes.sleepSeconds,
              timeoutMs: quick ? 300_000 : 1_200_000,
            });
          } finally {
            afterLoad = await memoryAtRest(app, 5_000);
          }
        }),
      );
      if (only.has('5')) {
        rows.push(
          ...(atStart
            ? memoryRows(atStart, afterLoad, sizes.jobs)
            : [row('5 memory at rest', 'not measured', 'workload 2 did not start')]),
        );
      }
    }
    if (only.has('3')) {
      await attempt('3 log pipeline', () =>
        withApp(inf, 'logs', logVars(sizes.logLines), (app) =>
          runLogPipeline(inf, app, { lines: sizes.logLines, pollMs: 20, timeoutMs: quick ? 300_000 : 900_000 }),
        ),
      );
    }
    if (only.has('4')) {
      await attempt('4 pages under load', () =>
        runPages(inf, {
          jobs: sizes.seedJobs,
          lines: sizes.seedLines,
          bigJobLines: sizes.bigJobLines,
          seconds: sizes.loadSeconds,
          connections: 20,
        }),
      );
    }
    if (only.has('7')) {
      const t = sizes.terraformSlots;
      await attempt('7 terraform slots', () =>
        withApp(
          inf,
          'slots',
          { sandbox_sleep_seconds: { apply: t.sleepSeconds } },
          (app) => runTerraformSlots(inf, app, { ...t, timeoutMs: quick ? 300_000 : 1_200_000 }),
          { TERRAFORM_MAX_CONCURRENT: String(t.slots) },
        ),
      );
    }
    if (only.has('8')) await attempt('8 live-log fan-out', () => runLogFanout(inf, sizes.fanout));
    if (only.has('9')) await attempt('9 start-up', () => runStartup(inf, { runs: sizes.startupRuns }));
  } catch (err) {
    if (err !== NO_SERVICES) {
      log(`benchmark set-up failed: ${(err as Error).stack ?? err}`);
      rows.push(failedRow('set-up', err));
    }
  } finally {
    await stopAll(log);
    const left = sweep(log);
    if (left) log(`killed ${left} leftover processes`);
  }

  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const finished = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const footer = [
    `load average at end (1, 5, 15 min): ${load}`,
    `finished ${finished}, took ${((Date.now() - started) / 60_000).toFixed(1)} min`,
  ];
  process.stdout.write(`\n${header.join('\n')}\n\n${textTable(rows)}\n\n${footer.join('\n')}\n`);
  if (markdownFile) {
    const md = [...header.map((l) => `- ${l}`), ...footer.map((l) => `- ${l}`), '', markdownTable(rows), ''].join('\n');
    fs.writeFileSync(markdownFile, md);
    log(`markdown table written to ${markdownFile}`);
  }
  if (cpuProfDir) log(`CPU profiles: ${cpuProfDir}`);
  const failed = rows.some((r) => r.figure.startsWith('FAILED'));
  if (keep || failed) log(`kept ${root}${failed ? ' (a workload failed: its logs are there)' : ''}`);
  else fs.rmSync(root, { recursive: true, force: true });
  process.exit(0);
}

void main();
