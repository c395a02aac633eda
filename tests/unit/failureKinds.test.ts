import path from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { ApplicationFailure } from '@temporalio/common';
import { afterEach, describe, expect, it } from 'vitest';
import { exhausted, isDatabaseUnavailable, isInfraFault, toFailure } from '../../src/activities/failures.js';
import { TerraformConfigError, TerraformExitError } from '../../src/activities/terraformErrors.js';
import { LogSinkError } from '../../src/activities/logSink.js';
import { freePort } from '../support/moto.js';
import { tempDir } from '../support/tempDb.js';

/** Which failures count against a job's small budget, and which are faults of the infrastructure it ran on. */

const open: SQLite.Database[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
});

/** The error better-sqlite3 really raises when another connection holds the write lock. */
function sqliteBusyError(): unknown {
  const file = path.join(tempDir('prov-busy-'), 'x.db');
  const a = new SQLite(file);
  const b = new SQLite(file, { timeout: 0 });
  open.push(a, b);
  a.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (x)');
  a.exec('BEGIN IMMEDIATE');
  try {
    b.exec('INSERT INTO t VALUES (1)');
  } catch (err) {
    a.exec('ROLLBACK');
    return err;
  }
  throw new Error('expected SQLITE_BUSY');
}

describe('isDatabaseUnavailable', () => {
  it('recognises a SQLite database locked by another process', () => {
    const err = sqliteBusyError();
    expect((err as { code: string }).code).toBe('SQLITE_BUSY');
    expect(isDatabaseUnavailable(err)).toBe(true);
  });

  it('recognises a Postgres server that does not answer', async () => {
    const client = new pg.Client({
      connectionString: `postgres://x@127.0.0.1:${await freePort()}/x`,
      connectionTimeoutMillis: 2_000,
    });
    const err = await client.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isDatabaseUnavailable(err)).toBe(true);
    // …and the error pg raises when the server shuts the connection down (admin_shutdown).
    expect(
      isDatabaseUnavailable(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })),
    ).toBe(true);
  });

  it('leaves errors in the query or the data alone', () => {
    const file = path.join(tempDir('prov-sql-'), 'x.db');
    const db = new SQLite(file);
    open.push(db);
    let err: unknown;
    try {
      db.exec('INSERT INTO missing VALUES (1)');
    } catch (e) {
      err = e;
    }
    expect(isDatabaseUnavailable(err)).toBe(false);
    expect(isDatabaseUnavailable(new Error('boom'))).toBe(false);
    expect(isDatabaseUnavailable(null)).toBe(false);
  });
});

describe('toFailure and isInfraFault', () => {
  it('maps an unreachable database to a retryable DatabaseUnavailable, an infrastructure fault', () => {
    const failure = toFailure(sqliteBusyError()) as ApplicationFailure;
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.type).toBe('DatabaseUnavailable');
    expect(failure.nonRetryable).toBe(false);
    expect(isInfraFault(failure)).toBe(true);
  });

  it('counts a log sink that could not store its lines as infrastructure, and a worker shutting down', () => {
    expect(isInfraFault(toFailure(new LogSinkError('could not store 3 lines')))).toBe(true);
    expect(isInfraFault(ApplicationFailure.retryable('interrupted', 'WorkerShutdown'))).toBe(true);
  });

  it('counts Terraform errors against the job: retryable ones and final ones', () => {
    const exit = toFailure(new TerraformExitError('terraform apply failed (exit code 1)', 'apply', 1, [])) as ApplicationFailure;
    expect(exit.type).toBe('TerraformExitError');
    expect(exit.nonRetryable).toBe(false);
    expect(isInfraFault(exit)).toBe(false);
    const config = toFailure(new TerraformConfigError('Error: Invalid value', 'plan', 1, [])) as ApplicationFailure;
    expect(config.nonRetryable).toBe(true);
    expect(isInfraFault(config)).toBe(false);
  });

  it('makes the last attempt of a step final, keeping its type and saying how many there were', () => {
    const last = exhausted(toFailure(new TerraformExitError('terraform apply failed', 'apply', 1, [])), 4);
    expect(last.type).toBe('TerraformExitError');
    expect(last.nonRetryable).toBe(true);
    expect(last.message).toBe('terraform apply failed (gave up after 4 attempts)');
  });
});
