import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { freePort, startDevServer, type DevServer } from '../../src/temporal/devServer.js';
import {
  ensureSearchAttributes,
  SERVICE_ATTRIBUTES,
  SearchAttributeError,
} from '../../src/temporal/searchAttributeRegistration.js';
import { tempDir } from '../support/tempDb.js';

/**
 * Registration through the operator service, on a dev server of its own with
 * a database file: the case of `npm start` on a `./data/temporal.db` made by
 * an earlier version, whose flags no longer register anything, and of a
 * namespace where an attribute of the same name has another type.
 */

const { IndexedValueType } = proto.temporal.api.enums.v1;
let dir: string;
let server: DevServer | undefined;
let connection: Connection | undefined;

async function start(searchAttributes: Record<string, string> | undefined) {
  server = await startDevServer({
    cliPath: inject('temporalCliPath'),
    port: await freePort(),
    uiPort: await freePort(),
    dbFile: path.join(dir, 'temporal.db'),
    ...(searchAttributes ? { searchAttributes } : {}),
  });
  connection = await Connection.connect({ address: server.address });
}

async function stop() {
  await connection?.close();
  await server?.stop();
  connection = undefined;
  server = undefined;
}

async function listed(): Promise<Record<string, string>> {
  const { customAttributes } = await connection!.operatorService.listSearchAttributes({ namespace: 'default' });
  return Object.fromEntries(
    Object.entries(customAttributes ?? {}).map(([name, t]) => [name, IndexedValueType[t]!.replace('INDEXED_VALUE_TYPE_', '')]),
  );
}

beforeAll(() => {
  dir = tempDir('prov-search-attributes-');
});

afterAll(async () => {
  await stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('search attribute registration', () => {
  it('registers what an existing database lacks, idempotently, and refuses a type conflict', {
    timeout: 120_000,
  }, async () => {
    // A database made before: one attribute of the service's name, of another type.
    await start({ JobStatus: 'Text' });
    await stop();
    // Started again with the service's flags: a dev server registers them only in a new database.
    await start(undefined);
    const before = await listed();
    expect(before.JobStatus).toBe('TEXT');
    expect(before.JobId).toBeUndefined();

    const { JobStatus: _, ...others } = SERVICE_ATTRIBUTES;
    const first = await ensureSearchAttributes(connection!, 'default', { wanted: others });
    expect(first.added.sort()).toEqual(Object.keys(others).sort());
    const second = await ensureSearchAttributes(connection!, 'default', { wanted: others });
    expect(second.added).toEqual([]);
    const after = await listed();
    for (const name of Object.keys(others)) expect(after[name], name).toBe('KEYWORD');

    // The server itself says yes to an add of an existing name with another type, and keeps the old one:
    await connection!.operatorService.addSearchAttributes({
      namespace: 'default',
      searchAttributes: { JobStatus: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD },
    });
    expect((await listed()).JobStatus).toBe('TEXT');
    // so the registration compares the types and stops with what to do.
    const conflict = await ensureSearchAttributes(connection!, 'default').catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(SearchAttributeError);
    expect((conflict as Error).message).toMatch(/JobStatus is Text there, the service needs Keyword/);
    expect((conflict as Error).message).toMatch(/cannot change its type/);
  });
});
