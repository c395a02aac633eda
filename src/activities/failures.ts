import { ApplicationFailure } from '@temporalio/common';
import { isInfraFaultType, NON_RETRYABLE_TYPES } from '../domain/failures.js';

/**
 * Errors from our modules carry a string `type`; this maps them to Temporal
 * failures so the retry policy can tell bad input (never retried) from
 * throttling (retried with backoff), and a database that cannot be reached
 * (an infrastructure fault) from an error in the job.
 */

const nonRetryable: ReadonlySet<string> = new Set(NON_RETRYABLE_TYPES);

// SQLite: another process holds the write lock, or the file cannot be written.
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|READONLY|IOERR|CANTOPEN|FULL|PROTOCOL)/;
// Postgres: the server is shutting down, starting, or the connection broke.
const PG_UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03', '53300']);
const NET_UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);
const PG_CONNECTION_MESSAGES =
  /Connection terminated|connection timeout|Client has encountered a connection error|terminating connection/i;

/** Whether `err` says the database could not be reached or written, rather than that a query was wrong. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; name?: string; message?: string; cause?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  const code = typeof e.code === 'string' ? e.code : '';
  if (e.name === 'SqliteError' && SQLITE_UNAVAILABLE.test(code)) return true;
  if (PG_UNAVAILABLE_CODES.has(code) || code.startsWith('08')) return true;
  if (NET_UNAVAILABLE_CODES.has(code)) return true;
  if (PG_CONNECTION_MESSAGES.test(e.message ?? '')) return true;
  return e.cause !== undefined && e.cause !== err && isDatabaseUnavailable(e.cause);
}

export function toFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (isDatabaseUnavailable(err)) {
    return ApplicationFailure.create({
      message: `the database could not be reached: ${(err as Error).message}`,
      type: 'DatabaseUnavailable',
      nonRetryable: false,
    });
  }
  const e = err as { type?: unknown; message?: string; name?: string; field?: string };
  if (e && typeof e === 'object' && typeof e.type === 'string') {
    const details = e.field ? [{ field: e.field }] : undefined;
    return ApplicationFailure.create({
      message: e.message ?? String(err),
      type: e.type,
      nonRetryable: nonRetryable.has(e.type),
      details,
      cause: undefined,
    });
  }
  return err;
}

export async function mapFailures<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw toFailure(err);
  }
}

/** Whether a failure (after toFailure) is an infrastructure fault: retried without counting against the job. */
export function isInfraFault(failure: unknown): boolean {
  if (failure instanceof ApplicationFailure) return isInfraFaultType(failure.type);
  return isDatabaseUnavailable(failure);
}

/** The same failure, made final: the step has spent its budget of attempts on errors in the job. */
export function exhausted(failure: unknown, attempts: number): ApplicationFailure {
  const f = failure as { message?: string; type?: string | null; details?: unknown[] };
  return ApplicationFailure.create({
    message: `${f.message ?? String(failure)} (gave up after ${attempts} attempts)`,
    type: f.type ?? 'Error',
    nonRetryable: true,
    details: f.details,
  });
}
