import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The real Temporal server (what production runs, not the CLI's dev server)
 * and its SQL schema tool, for the cluster tests (tests/cluster/, through
 * tests/support/temporalCluster.ts). Built once with `go install` into a
 * versioned cache outside the repository, like the Temporal CLI, with the
 * module's Postgres schemas and example config copied beside them: the tests
 * then need neither the Go module cache (which `go clean -modcache` empties)
 * nor Go itself after the build.
 *
 *   <cache>/temporal-server      go.temporal.io/server/cmd/server
 *   <cache>/temporal-sql-tool    go.temporal.io/server/cmd/tools/sql
 *   <cache>/schema/postgresql/v12/{temporal,visibility}/versioned/
 *   <cache>/config/development-postgres12.yaml
 *
 * v1.30.4 because newer releases need a newer Go than these machines have.
 * Without Go the build is skipped with a note, and the cluster suite skips
 * saying why (it is the only user).
 */

export const TEMPORAL_SERVER_VERSION = 'v1.30.4';
const MODULE = 'go.temporal.io/server';
export const TEMPORAL_SERVER_CACHE = path.join(
  process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'),
  'provisioning-service',
  'temporal-server',
  TEMPORAL_SERVER_VERSION,
);
/** What the cache holds when complete (the stamp is written last). */
const STAMP = 'provisioning-build.txt';
const COPIED = ['schema/postgresql/v12', 'config/development-postgres12.yaml'];

const log = (msg) => process.stderr.write(`${msg}\n`);

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** `go` on PATH, or where Go's official tarball installs (npm scripts' PATH may lack it). */
function goBinary() {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, 'go'))) return path.join(dir, 'go');
  }
  return isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined;
}

export function temporalServerReady() {
  return (
    fs.existsSync(path.join(TEMPORAL_SERVER_CACHE, STAMP)) &&
    isExecutable(path.join(TEMPORAL_SERVER_CACHE, 'temporal-server')) &&
    isExecutable(path.join(TEMPORAL_SERVER_CACHE, 'temporal-sql-tool'))
  );
}

export function ensureTemporalServer() {
  if (temporalServerReady()) return;
  const go = goBinary();
  if (!go) {
    log(
      `Note: Go is not installed, so the Temporal server ${TEMPORAL_SERVER_VERSION} is not built and the cluster tests ` +
        '(tests/cluster/) will be skipped. Install Go 1.25 or newer (https://go.dev/dl/) and run npm test again to run them.',
    );
    return;
  }
  log(
    `Building the Temporal server ${TEMPORAL_SERVER_VERSION} and its SQL tool with Go into ${TEMPORAL_SERVER_CACHE} (a few minutes, once)…`,
  );
  // Built beside the cache and renamed in, so an interrupted build never leaves half a cache.
  const staging = `${TEMPORAL_SERVER_CACHE}.tmp-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  try {
    const gobin = path.join(staging, 'bin');
    const res = spawnSync(
      go,
      ['install', `${MODULE}/cmd/server@${TEMPORAL_SERVER_VERSION}`, `${MODULE}/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`],
      { env: { ...process.env, GOBIN: gobin, CGO_ENABLED: '0' }, stdio: ['ignore', process.stderr, 'inherit'] },
    );
    if (res.status !== 0) throw new Error(`go install failed (exit ${res.status ?? res.signal})`);
    fs.renameSync(path.join(gobin, 'server'), path.join(staging, 'temporal-server'));
    fs.renameSync(path.join(gobin, 'sql'), path.join(staging, 'temporal-sql-tool'));
    fs.rmSync(gobin, { recursive: true, force: true });
    const modCache = spawnSync(go, ['env', 'GOMODCACHE'], { encoding: 'utf8' }).stdout.trim();
    const moduleDir = path.join(modCache, `${MODULE}@${TEMPORAL_SERVER_VERSION}`);
    for (const rel of COPIED) {
      fs.cpSync(path.join(moduleDir, rel), path.join(staging, rel), { recursive: true });
    }
    // The module cache is read-only; the copies need not be.
    spawnSync('chmod', ['-R', 'u+w', staging]);
    fs.writeFileSync(path.join(staging, STAMP), `${MODULE}@${TEMPORAL_SERVER_VERSION}\n`);
    fs.mkdirSync(path.dirname(TEMPORAL_SERVER_CACHE), { recursive: true });
    fs.rmSync(TEMPORAL_SERVER_CACHE, { recursive: true, force: true });
    fs.renameSync(staging, TEMPORAL_SERVER_CACHE);
  } catch (err) {
    spawnSync('chmod', ['-R', 'u+w', staging]);
    fs.rmSync(staging, { recursive: true, force: true });
    log(
      `Could not build the Temporal server ${TEMPORAL_SERVER_VERSION}: ${err.message}.\n` +
        '  - Check that Go can reach its module proxy (GOPROXY), then run npm test again.',
    );
    process.exit(1);
  }
  log(`Temporal server: ${path.join(TEMPORAL_SERVER_CACHE, 'temporal-server')}`);
}
