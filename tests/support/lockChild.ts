/**
 * A second process for the lock tests, run with `node --import tsx`:
 *   lock <lockPath> <logFile> <rounds>      takes the lock `rounds` times, logging start/end lines
 *   init <workspace> <cacheDir> <binary>    runs terraformInit with the shared provider cache
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { withFileLock } from '../../src/activities/fileLock.js';
import { terraformInit } from '../../src/activities/terraformCommands.js';
import { redactorFor } from '../../src/domain/redact.js';

const [mode, a, b, c] = process.argv.slice(2);

if (mode === 'lock') {
  for (let i = 0; i < Number(c); i++) {
    await withFileLock(
      a,
      async () => {
        fs.appendFileSync(b, `start ${process.pid}\n`);
        await sleep(60);
        fs.appendFileSync(b, `end ${process.pid}\n`);
      },
      { pollMs: 20 },
    );
  }
} else if (mode === 'init') {
  const lines: string[] = [];
  await terraformInit({
    binary: c,
    workspaceDir: a,
    env: { TF_PLUGIN_CACHE_DIR: b },
    sink: { write: (_s: string, l: string) => void lines.push(l), flush: async () => {}, redact: redactorFor([]), pending: 0 },
    graceMs: 2_000,
  });
} else {
  throw new Error(`unknown mode ${mode}`);
}
