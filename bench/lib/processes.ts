import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Every process the benchmark starts goes through here, so that all of them
 * are stopped at the end, on an error and on Ctrl-C: web and worker (the
 * compiled entry points under plain node, as `npm run web` / `npm run worker`
 * start them), the Temporal dev server, moto, and any terraform a stopped
 * worker left behind.
 */

export const ROOT = path.resolve(import.meta.dirname, '..', '..');

interface Stoppable {
  name: string;
  stop(): Promise<void>;
}

const running = new Set<Stoppable>();
const sweepDirs = new Set<string>();

/** Registers something to stop at the end; returns a function that forgets it (after a clean stop). */
export function register(item: Stoppable): () => void {
  running.add(item);
  return () => running.delete(item);
}

/** Processes whose working directory lies under `dir` are killed by the final sweep (terraform of a killed worker). */
export function sweepUnder(dir: string): void {
  sweepDirs.add(path.resolve(dir));
}

/** Stops everything still registered, newest first. */
export async function stopAll(log: (m: string) => void = () => {}): Promise<void> {
  for (const item of [...running].reverse()) {
    try {
      await item.stop();
    } catch (err) {
      log(`stopping ${item.name} failed: ${(err as Error).message}`);
    }
    running.delete(item);
  }
  sweep(log);
}

/** SIGKILLs any process left running with its cwd under one of the sweep dirs. */
export function sweep(log: (m: string) => void = () => {}): number {
  if (sweepDirs.size === 0) return 0;
  let killed = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let cwd: string;
    try {
      cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      continue;
    }
    for (const dir of sweepDirs) {
      if (cwd === dir || cwd.startsWith(`${dir}/`)) {
        try {
          process.kill(pid, 'SIGKILL');
          killed++;
          log(`killed leftover process ${pid} (${commOf(pid)}) in ${cwd}`);
        } catch {
          // gone already
        }
        break;
      }
    }
  }
  return killed;
}

let handlersInstalled = false;
/** Ctrl-C / SIGTERM: stop everything, then exit 130. */
export function installSignalHandlers(log: (m: string) => void, afterStop: () => void = () => {}): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log(`${signal} again: killing what is left`);
      sweep(log);
      process.exit(130);
    }
    stopping = true;
    log(`${signal}: stopping every process the benchmark started…`);
    void stopAll(log)
      .then(afterStop)
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
}

// --- /proc helpers ---------------------------------------------------------------------------

export function commOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return commOf(pid) !== '' && !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

/** Direct children of `pid`, from /proc/<pid>/task/<tid>/children. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const text = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    } catch {
      // task gone
    }
  }
  return out;
}

export function descendantsOf(pid: number): number[] {
  const found: number[] = [];
  const walk = (p: number) => {
    for (const c of childrenOf(p)) {
      found.push(c);
      walk(c);
    }
  };
  walk(pid);
  return found;
}

/** Resident set size in MB (VmRSS of /proc/<pid>/status), or undefined when the process is gone. */
export function rssMb(pid: number): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** CPU seconds of a process itself and of its reaped children (their children included), from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): { self: number; children: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    // f[0] is field 3 (state): utime, stime, cutime, cstime are fields 14-17.
    return { self: (f[11] + f[12]) / CLOCK_TICKS, children: (f[13] + f[14]) / CLOCK_TICKS };
  } catch {
    return undefined;
  }
}

// --- services (compiled entry points under plain node) --------------------------------------

export interface Service {
  name: string;
  pid: number;
  /** The node process that runs the service (the one whose memory counts): the same as `pid`. */
  nodePid: number;
  child: ChildProcess;
  logFile: string;
  /** Resolves with the first output line matching `re`. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<string>;
  tail(): string;
  stop(graceMs?: number): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `node <nodeArgs> <script>` (a compiled entry point under dist/, no
 * loader) with exactly `env` (nothing of the caller's environment leaks in but
 * PATH and HOME-like basics), output to `logFile`.
 */
export async function startService(
  name: string,
  script: string,
  env: Record<string, string>,
  logFile: string,
  /** Flags for node, e.g. --max-semi-space-size or --cpu-prof, which NODE_OPTIONS may not carry. */
  nodeArgs: string[] = [],
): Promise<Service> {
  const base: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'XDG_CACHE_HOME', 'TEMPORAL_CLI_PATH']) {
    if (process.env[k]) base[k] = process.env[k]!;
  }
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [...nodeArgs, script], {
    cwd: ROOT,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const watchers: { re: RegExp; resolve: (line: string) => void }[] = [];
  let partial = '';
  const onData = (chunk: Buffer) => {
    fs.writeSync(out, chunk);
    const text = chunk.toString();
    tail = (tail + text).slice(-6000);
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      for (const w of [...watchers]) {
        if (w.re.test(line)) {
          watchers.splice(watchers.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  let stopping = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => {
    if (!stopping)
      process.stderr.write(`[bench] ${name} exited unexpectedly (${child.exitCode ?? child.signalCode}); see ${logFile}\n`);
  });
  void exited.then(() => fs.closeSync(out));

  const nodePid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid!));
    child.once('error', (err) => reject(new Error(`${name}: ${err.message}`)));
  });

  const stop = async (graceMs = 20_000) => {
    stopping = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    // Remember the whole tree now: what outlives the parent gets reparented and is lost from sight.
    const tree = descendantsOf(nodePid);
    child.kill('SIGTERM');
    const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut) child.kill('SIGKILL');
    for (const pid of tree) {
      if (isAlive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    await exited;
  };
  const service: Service = {
    name,
    pid: child.pid!,
    nodePid,
    child,
    logFile,
    tail: () => tail,
    waitForLine: (re, timeoutMs) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${name}: no line matching ${re} after ${timeoutMs} ms\n${tail}`)),
          timeoutMs,
        );
        const done = (line: string) => {
          clearTimeout(timer);
          resolve(line);
        };
        watchers.push({ re, resolve: done });
        void exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before printing ${re}:\n${tail}`));
        });
      }),
    stop: async (graceMs) => {
      await stop(graceMs);
      forget();
    },
  };
  const forget = register({ name, stop: () => stop() });
  return service;
}

/** Runs a command to completion; resolves with its wall time in ms. Output goes to `logFd` when given. */
export function runTimed(
  command: string,
  args: string[],
  opts: { cwd: string; env: Record<string, string>; logFd?: number },
): Promise<{ ms: number; code: number | null }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['ignore', opts.logFd ?? 'ignore', opts.logFd ?? 'ignore'],
    });
    const forget = register({
      name: `${command} ${args[0] ?? ''}`,
      stop: async () => {
        child.kill('SIGKILL');
      },
    });
    child.once('error', (err) => {
      forget();
      reject(err);
    });
    child.once('exit', (code) => {
      forget();
      resolve({ ms: performance.now() - t0, code });
    });
  });
}
