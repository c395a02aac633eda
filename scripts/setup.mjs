#!/usr/bin/env node
// Runs before `npm start` and `npm test`: installs npm packages when missing
// and makes sure a Temporal CLI is there (building it once with Go if needed).
// Plain JS, because it must run before anything is installed.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => {
  const res = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (res.status !== 0) process.exit(res.status ?? 1);
};

if (!existsSync(path.join(root, 'node_modules', '.package-lock.json'))) {
  console.error('Installing npm packages…');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

if (!process.env.TEMPORAL_ADDRESS || process.env.npm_lifecycle_event === 'pretest') {
  run(path.join(root, 'node_modules', '.bin', 'tsx'), [path.join(root, 'scripts', 'ensure-temporal-cli.ts')]);
}
