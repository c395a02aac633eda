import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A cross-process lock on a file, for work that processes sharing a
 * directory must not do at once (Terraform's plugin cache is not safe for
 * concurrent `init`). Acquired by creating the lock file exclusively
 * (`open(…, 'wx')`), so it works between workers in one container, between
 * containers sharing a volume and between hosts on a shared filesystem.
 *
 * The holder refreshes the file's mtime while it holds the lock. A lock is
 * stale, and is broken, when its holder is a dead process on this host, or
 * when its mtime is older than `staleMs` (a holder on another host that
 * died). Breakers take turns through a second lock (`<lock>.break`), so two
 * waiters never both break the same lock and then both run.
 */

export interface LockHolder {
  pid: number;
  host: string;
  token: string;
  acquiredAt: string;
}

export interface FileLockOptions {
  /** A lock whose mtime is older than this is stale (its holder died without a trace). */
  staleMs?: number;
  /** How often the holder refreshes the mtime; well under `staleMs`. */
  refreshMs?: number;
  pollMs?: number;
  /** Give up waiting after this long (0: wait forever). */
  timeoutMs?: number;
  /** Abort waiting (an activity cancel). */
  signal?: AbortSignal;
  /** Called on every poll while waiting: activities heartbeat here. */
  onWait?: (holder: LockHolder | undefined) => void;
}

export class LockTimeoutError extends Error {
  readonly type = 'LockTimeout';
  readonly retryable = true;
  constructor(lockPath: string, waitedMs: number, holder?: LockHolder) {
    super(
      `waited ${Math.round(waitedMs / 1000)}s for ${lockPath}` +
        (holder ? ` (held by pid ${holder.pid} on ${holder.host} since ${holder.acquiredAt})` : ''),
    );
    this.name = 'LockTimeoutError';
  }
}

const HOST = os.hostname();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readHolder(lockPath: string): Promise<{ holder?: LockHolder; mtimeMs: number } | undefined> {
  try {
    const [text, stat] = await Promise.all([fs.readFile(lockPath, 'utf8'), fs.stat(lockPath)]);
    let holder: LockHolder | undefined;
    try {
      holder = JSON.parse(text) as LockHolder;
    } catch {
      // Half-written by a holder that died mid-write: judged by its mtime alone.
    }
    return { holder, mtimeMs: stat.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function isStale(found: { holder?: LockHolder; mtimeMs: number }, staleMs: number): boolean {
  if (found.holder && found.holder.host === HOST && !pidAlive(found.holder.pid)) return true;
  return Date.now() - found.mtimeMs > staleMs;
}

async function tryCreate(lockPath: string, holder: LockHolder): Promise<boolean> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(lockPath, 'wx', 0o644);
    await handle.writeFile(JSON.stringify(holder));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await handle?.close();
  }
}

/** Removes a stale lock, if it is still the same stale lock, with the breakers taking turns. */
async function breakStale(lockPath: string, staleToken: string | undefined, staleMs: number): Promise<void> {
  const breakPath = `${lockPath}.break`;
  const me: LockHolder = { pid: process.pid, host: HOST, token: crypto.randomUUID(), acquiredAt: new Date().toISOString() };
  if (!(await tryCreate(breakPath, me))) {
    // Another breaker is at it; its own lock is stale only if it died mid-break.
    const other = await readHolder(breakPath);
    if (other && isStale(other, Math.min(staleMs, 30_000))) await fs.rm(breakPath, { force: true });
    return;
  }
  try {
    const again = await readHolder(lockPath);
    if (again && again.holder?.token === staleToken && isStale(again, staleMs)) await fs.rm(lockPath, { force: true });
  } finally {
    await fs.rm(breakPath, { force: true });
  }
}

/** Runs `fn` while holding the lock at `lockPath` (created in an existing directory). */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, opts: FileLockOptions = {}): Promise<T> {
  const staleMs = opts.staleMs ?? 120_000;
  const refreshMs = opts.refreshMs ?? Math.max(1_000, Math.floor(staleMs / 4));
  const pollMs = opts.pollMs ?? 250;
  const started = Date.now();
  const me: LockHolder = { pid: process.pid, host: HOST, token: crypto.randomUUID(), acquiredAt: '' };

  for (;;) {
    opts.signal?.throwIfAborted();
    me.acquiredAt = new Date().toISOString();
    if (await tryCreate(lockPath, me)) break;
    const found = await readHolder(lockPath);
    if (found && isStale(found, staleMs)) {
      await breakStale(lockPath, found.holder?.token, staleMs);
      continue;
    }
    opts.onWait?.(found?.holder);
    if (opts.timeoutMs && Date.now() - started > opts.timeoutMs) {
      throw new LockTimeoutError(lockPath, Date.now() - started, found?.holder);
    }
    // A little jitter keeps many waiters from polling in step.
    await sleep(pollMs + Math.floor(Math.random() * pollMs * 0.5), undefined, { signal: opts.signal });
  }

  const refresh = setInterval(() => {
    const now = new Date();
    fs.utimes(lockPath, now, now).catch(() => {
      // Gone or unreachable: the release below is then a no-op.
    });
  }, refreshMs);
  refresh.unref();
  try {
    return await fn();
  } finally {
    clearInterval(refresh);
    // Only our own lock is removed: a lock broken as stale and taken by another stays.
    const current = await readHolder(lockPath).catch(() => undefined);
    if (current?.holder?.token === me.token) await fs.rm(lockPath, { force: true });
  }
}
