import { loadConfigOrExit } from '../config.js';
import { createDb, migrateToLatest } from './database.js';

/** `npm run migrate`: applies pending migrations and prints what it applied. */
const config = loadConfigOrExit();
const db = createDb(config.databasePath);
try {
  const applied = await migrateToLatest(db);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
} finally {
  await db.destroy();
}
