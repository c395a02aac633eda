import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { jobSpecInput } from './lib/api.js';
import { JOB_COMMANDS, makeWorkspace, terraformEnv } from './lib/bareTerraform.js';
import { register, runTimed } from './lib/processes.js';
import { row, type Row } from './lib/report.js';
import { SANDBOX_MODULE, loopStalls, type App, type Infra } from './lib/stack.js';
import { int, max, msFmt, percentileSorted, sec } from './lib/stats.js';
import { pipelineCeiling } from './pipelineCeiling.js';

/**
 * Workload 3: the log pipeline. One sandbox apply prints N lines, each ending
 * in the epoch-ms time it was printed (`sandbox_log_timestamps`); the
 * benchmark reads them back through `GET /api/jobs/:id/logs` as fast as it can
 * and takes, per line, the time from printed to readable. Meanwhile it polls
 * Temporal's description of the workflow for the apply activity's last
 * heartbeat, and the worker's loop probe tells how long its event loop (where
 * the heartbeat timer runs) was ever blocked.
 *
 * Two reference figures separate the parts: terraform alone printing the same
 * lines into a file, and the runner + LogSink + SQLite without terraform (perl
 * as the child, in the benchmark's own process).
 */

const W = '3 log pipeline';
const PREFIX = /^terraform_data\.instance \(local-exec\): /;
const LINE = /^sandbox line (\d+) t=(\d{13})$/;

/**
 * Recognises the sandbox's timestamped lines in terraform's output. Terraform
 * copies a provisioner's output in chunks and now and then cuts a line in two
 * ("sandbox line 9628 t" + "=1795818945455"), each half printed as a line of
 * its own: the halves are joined again here (and counted).
 */
export class SandboxLines {
  splits = 0;
  #carry = '';
  feed(raw: string): { n: number; printed: number } | undefined {
    const payload = raw.replace(PREFIX, '');
    if (this.#carry) {
      const joined = LINE.exec(this.#carry + payload);
      this.#carry = '';
      if (joined) {
        this.splits++;
        return { n: Number(joined[1]), printed: Number(joined[2]) };
      }
    }
    const m = LINE.exec(payload);
    if (m) return { n: Number(m[1]), printed: Number(m[2]) };
    if (payload && ('sandbox line'.startsWith(payload) || /^sandbox line \d*( t?(=\d*)?)?$/.test(payload))) this.#carry = payload;
    return undefined;
  }
}

// The workflow's heartbeatTimeout for terraform activities, and the runner's heartbeat interval.
const HEARTBEAT_TIMEOUT_MS = 10_000;
const HEARTBEAT_EVERY_MS = 1_000;

export const logVars = (lines: number) => ({ sandbox_log_lines: lines, sandbox_log_timestamps: true });

/**
 * Terraform printing the lines with nobody slow behind it (its stdout read by
 * this process and thrown away): the source's own rate, and its own delay
 * from a line printed by the provisioner to the same line on terraform's stdout.
 */
async function terraformAlone(infra: Infra, lines: number) {
  const dir = makeWorkspace(path.join(infra.root, 'bare-logs'), SANDBOX_MODULE, logVars(lines));
  const logFd = fs.openSync(path.join(dir, 'bare.log'), 'a');
  try {
    const init = await runTimed('terraform', JOB_COMMANDS.init, { cwd: dir, env: terraformEnv(), logFd });
    if (init.code !== 0) throw new Error(`terraform init in ${dir} exited ${init.code}`);
  } finally {
    fs.closeSync(logFd);
  }
  const delays: number[] = [];
  let first = Number.NaN;
  let last = Number.NaN;
  const sandbox = new SandboxLines();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('terraform', ['apply', '-auto-approve', '-input=false', '-no-color'], {
      cwd: dir,
      env: terraformEnv(),
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const forget = register({ name: 'terraform apply (alone)', stop: async () => void child.kill('SIGKILL') });
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const now = Date.now();
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        const m = sandbox.feed(line);
        if (!m) continue;
        const t = m.printed;
        if (delays.length === 0) first = t;
        last = t;
        delays.push(now - t);
      }
    });
    child.once('error', reject);
    child.once('close', (code) => {
      forget();
      if (code === 0) resolve();
      else reject(new Error(`terraform apply in ${dir} exited ${code}`));
    });
  });
  delays.sort((a, b) => a - b);
  return {
    count: delays.length,
    rate: delays.length / ((last - first) / 1000),
    p50: percentileSorted(delays, 50),
    p95: percentileSorted(delays, 95),
    splits: sandbox.splits,
  };
}

interface HeartbeatView {
  started?: number;
  beats: Set<number>;
  maxAttempt: number;
}

function tsMs(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number | undefined {
  if (!ts || ts.seconds === undefined || ts.seconds === null) return undefined;
  return Number(String(ts.seconds)) * 1000 + Math.round((ts.nanos ?? 0) / 1e6);
}

export async function runLogPipeline(
  infra: Infra,
  app: App,
  opts: { lines: number; pollMs: number; timeoutMs: number },
): Promise<Row[]> {
  const { api } = app;
  const alone = await terraformAlone(infra, opts.lines);
  infra.log(
    `log pipeline: terraform alone printed ${alone.count} lines at ${int(alone.rate)} lines/s (delay p50 ${msFmt(alone.p50)}, p95 ${msFmt(alone.p95)})`,
  );
  const capacity = await pipelineCeiling(path.join(infra.root, 'pipeline-alone'), opts.lines);
  infra.log(
    `log pipeline: runner + LogSink + SQLite alone stored ${capacity.stored} lines at ${int(capacity.rate)} lines/s (${capacity.cpuUsPerLine.toFixed(1)} µs CPU a line)`,
  );

  const job = await api.createJob(jobSpecInput('logs'));
  const handle = infra.temporal.workflow.getHandle(`job-${job.id}`);
  await api.runJob(job.id);
  const deadline = Date.now() + opts.timeoutMs;

  // Heartbeats as Temporal sees them.
  const hb: HeartbeatView = { beats: new Set(), maxAttempt: 0 };
  let watching = true;
  const watchHeartbeats = (async () => {
    while (watching) {
      try {
        const d = await handle.describe();
        for (const a of d.raw.pendingActivities ?? []) {
          if (a.activityType?.name !== 'terraformApply') continue;
          hb.started ??= tsMs(a.lastStartedTime);
          const beat = tsMs(a.lastHeartbeatTime);
          if (beat !== undefined) hb.beats.add(beat);
          hb.maxAttempt = Math.max(hb.maxAttempt, a.attempt ?? 0);
        }
      } catch {
        // not started yet
      }
      await new Promise((r) => setTimeout(r, 400));
    }
  })();

  // Lines as a reader of the API sees them.
  const delays: number[] = [];
  // The line's ts is when the worker read it from terraform's stdout: it splits the delay into terraform's part and ours.
  const toWorker: number[] = [];
  const fromWorker: number[] = [];
  let firstPrinted = Number.POSITIVE_INFINITY;
  let lastPrinted = 0;
  let lastReadable = 0;
  let after = 0;
  let status = 'running';
  const sandbox = new SandboxLines();
  try {
    while (delays.length < opts.lines) {
      if (Date.now() > deadline) throw new Error(`read ${delays.length} of ${opts.lines} lines within ${opts.timeoutMs} ms`);
      const page = await api.logs(job.id, after, 5000);
      const readable = Date.now();
      for (const l of page.lines) {
        const m = sandbox.feed(l.line);
        if (!m) continue;
        const printed = m.printed;
        delays.push(readable - printed);
        const read = Date.parse(l.ts);
        toWorker.push(read - printed);
        fromWorker.push(readable - read);
        firstPrinted = Math.min(firstPrinted, printed);
        lastPrinted = Math.max(lastPrinted, printed);
        lastReadable = readable;
      }
      after = page.nextAfter;
      if (!page.hasMore) {
        if (page.lines.length === 0) {
          const j = await api.getJob(job.id);
          status = j.status;
          if (['failed', 'cancelled', 'rejected'].includes(status)) throw new Error(`job ${job.id} ${status}: ${j.error}`);
          if (status === 'succeeded' && delays.length < opts.lines) break;
        }
        await new Promise((r) => setTimeout(r, opts.pollMs));
      }
    }
    const final = await api.waitFinal(job.id, { everyMs: 200, timeoutMs: Math.max(10_000, deadline - Date.now()) });
    status = final.job.status;
  } finally {
    watching = false;
    await watchHeartbeats;
  }

  const apply = (await api.steps(job.id)).find((s) => s.step === 'apply' && s.state === 'succeeded');
  const applyFrom = apply ? Date.parse(apply.startedAt) : firstPrinted;
  const applyTo = apply?.finishedAt ? Date.parse(apply.finishedAt) : lastReadable;
  infra.mark('log pipeline (apply step)', applyFrom, applyTo);
  const stalls = app.worker ? loopStalls(app, app.worker, applyFrom, applyTo) : [];
  const maxStall = stalls.length ? max(stalls) : 0;

  const beats = [...hb.beats].sort((a, b) => a - b);
  const marks = hb.started !== undefined ? [hb.started, ...beats.filter((b) => b >= hb.started!)] : beats;
  const gaps = marks.slice(1).map((b, i) => b - marks[i]);
  const maxGap = gaps.length ? max(gaps) : Number.NaN;

  const sorted = delays.sort((a, b) => a - b);
  const rate = delays.length / ((lastReadable - firstPrinted) / 1000);
  const p95 = percentileSorted(sorted, 95);
  // The source's own rate is what the pipeline can at best keep up with.
  const ratio = rate / alone.rate;
  const heartbeatsOk = Number.isFinite(maxGap) && maxGap < HEARTBEAT_TIMEOUT_MS && hb.maxAttempt <= 1;
  return [
    row(W, `terraform alone, stdout read and dropped: ${int(opts.lines)} lines (source ceiling)`, `${int(alone.rate)} lines/s`),
    row(W, "  terraform alone: delay printed → on terraform's stdout, p50 / p95", `${msFmt(alone.p50)} / ${msFmt(alone.p95)}`),
    row(
      W,
      `runner + LogSink + SQLite without terraform (pipeline ceiling; ${capacity.cpuUsPerLine.toFixed(1)} µs CPU a line)`,
      `${int(capacity.rate)} lines/s`,
      '≥ 150,000 lines/s',
      capacity.rate >= 150_000,
    ),
    row(
      W,
      `lines readable through the API (terraform cut ${sandbox.splits} in two; joined again)`,
      `${int(delays.length)} / ${int(opts.lines)}`,
      'all',
      delays.length === opts.lines && status === 'succeeded',
    ),
    row(W, 'lines per second stored (first printed → last readable)', `${int(rate)} lines/s`),
    row(W, "stored ÷ printed (terraform alone's rate)", ratio.toFixed(2), '≥ 0.95', ratio >= 0.95),
    row(W, '  time terraform spent printing them in the job', sec(lastPrinted - firstPrinted)),
    row(W, 'delay printed → readable via API, p50', msFmt(percentileSorted(sorted, 50))),
    row(W, 'delay printed → readable via API, p95', msFmt(p95), '< 250 ms', p95 < 250),
    row(
      W,
      "  of it: printed → read by the worker (the line's ts) / read → readable via API, p95",
      `${msFmt(
        percentileSorted(
          toWorker.sort((a, b) => a - b),
          95,
        ),
      )} / ${msFmt(
        percentileSorted(
          fromWorker.sort((a, b) => a - b),
          95,
        ),
      )}`,
    ),
    row(W, 'delay printed → readable via API, max', msFmt(sorted[sorted.length - 1] ?? Number.NaN)),
    row(
      W,
      `heartbeats: longest gap Temporal saw (${beats.length} beats, apply attempts ${hb.maxAttempt})`,
      sec(maxGap, 1),
      `< ${HEARTBEAT_TIMEOUT_MS / 1000} s timeout, 1 attempt`,
      heartbeatsOk,
    ),
    row(
      W,
      `heartbeats: worker event loop's longest stall during apply (${stalls.length} stalls ≥ 20 ms)`,
      msFmt(maxStall, 0),
      `< ${HEARTBEAT_EVERY_MS} ms (heartbeat interval)`,
      maxStall < HEARTBEAT_EVERY_MS,
    ),
  ];
}
