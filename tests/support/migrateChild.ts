/**
 * A migrating process for the cross-process migration test, run with tsx:
 *   migrateChild.ts <dbFile> <goFile>
 * Opens the database, then waits for <goFile> so that every child starts
 * migrating within a few milliseconds of the others (process start-up alone
 * varies by a second, which would hide the race the test is about).
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDb, migrateToLatest } from '../../src/db/database.js';

const [file, goFile] = process.argv.slice(2);
const db = createDb(file);
console.log('ready');
while (!fs.existsSync(goFile)) await sleep(2);
try {
  const applied = await migrateToLatest(db);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
} finally {
  await db.destroy();
}
