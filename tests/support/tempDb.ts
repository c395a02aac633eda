import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDb, migrateToLatest, type Db } from '../../src/db/database.js';

export function tempDir(prefix = 'prov-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A real SQLite file with every migration applied, removed by the caller's `cleanup`. */
export async function createTempDb(): Promise<{ db: Db; file: string; dir: string; cleanup: () => Promise<void> }> {
  const dir = tempDir();
  const file = path.join(dir, 'app.db');
  const db = createDb(file);
  await migrateToLatest(db);
  return {
    db,
    file,
    dir,
    cleanup: async () => {
      await db.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
