import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync, execFileSync } from 'node:child_process';

/**
 * Finds the Temporal CLI that serves `temporal server start-dev`, for
 * `npm start` and the tests alike, in this order: TEMPORAL_CLI_PATH,
 * `temporal` on PATH, the cached build. `ensureTemporalCli` builds the cache
 * when none is found.
 */

export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
// The newest release whose go.mod has no replace directive, so `go install` accepts it.
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'provisioning-service', 'temporal-cli', TEMPORAL_CLI_VERSION);
}

export function cachedCliPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheDir(env), 'temporal');
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export interface CliLookup {
  path: string;
  source: 'TEMPORAL_CLI_PATH' | 'PATH' | 'cache';
}

export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): CliLookup | undefined {
  if (env.TEMPORAL_CLI_PATH) {
    if (!isExecutable(env.TEMPORAL_CLI_PATH)) {
      throw new Error(`TEMPORAL_CLI_PATH: ${env.TEMPORAL_CLI_PATH} is not an executable file`);
    }
    return { path: env.TEMPORAL_CLI_PATH, source: 'TEMPORAL_CLI_PATH' };
  }
  const fromPath = onPath('temporal', env);
  if (fromPath) return { path: fromPath, source: 'PATH' };
  const cached = cachedCliPath(env);
  if (isExecutable(cached)) return { path: cached, source: 'cache' };
  return undefined;
}

/** Where Go's official tarball installs, for shells whose PATH lacks it (npm scripts, CI). */
const GO_INSTALL_PATHS = ['/usr/local/go/bin/go'];

function goBinary(env: NodeJS.ProcessEnv, candidates: readonly string[]): string | undefined {
  return onPath('go', env) ?? candidates.find(isExecutable);
}

export const TEMPORAL_CLI_DOWNLOAD_URL = 'https://temporal.download/cli/archive/latest';

/** What a test (or an unusual machine) may swap; the defaults are the real ones. */
export interface EnsureOptions {
  goInstallPaths?: readonly string[];
  downloadUrl?: string;
  fetch?: typeof fetch;
}

/** Builds the CLI into the cache with the Go toolchain (minutes, once). */
function buildWithGo(go: string, env: NodeJS.ProcessEnv, log: (msg: string) => void): string {
  const dir = cacheDir(env);
  fs.mkdirSync(dir, { recursive: true });
  log(`Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with Go into ${dir} (takes a few minutes, once)…`);
  // Build into a temp GOBIN and rename, so an interrupted build never leaves a half-written binary in the cache.
  const staging = fs.mkdtempSync(path.join(dir, '.build-'));
  try {
    const res = spawnSync(go, ['install', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], {
      env: { ...env, GOBIN: staging, CGO_ENABLED: env.CGO_ENABLED ?? '0' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (res.status !== 0) {
      throw new Error(
        `go install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION} failed (exit ${res.status ?? res.signal}).\n` +
          '  - Check that Go can reach its module proxy (GOPROXY), then run npm start or npm test again,\n' +
          '  - or put a `temporal` binary on PATH, or set TEMPORAL_CLI_PATH to one,\n' +
          '  - or set TEMPORAL_ADDRESS to use an existing Temporal server.',
      );
    }
    fs.renameSync(path.join(staging, 'temporal'), cachedCliPath(env));
    return cachedCliPath(env);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/** Without Go: the same archive the Temporal SDK's own dev-server download uses. */
async function downloadRelease(env: NodeJS.ProcessEnv, log: (msg: string) => void, opts: EnsureOptions): Promise<string> {
  const platform = process.platform === 'darwin' ? 'darwin' : 'linux';
  const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
  const url = `${opts.downloadUrl ?? TEMPORAL_CLI_DOWNLOAD_URL}?platform=${platform}&arch=${arch}`;
  log(`Go is not installed; downloading the Temporal CLI from ${url}…`);
  const res = await (opts.fetch ?? fetch)(url, { signal: AbortSignal.timeout(120_000) });
  if (!res.ok) throw new Error(`download failed with HTTP ${res.status}`);
  const dir = cacheDir(env);
  fs.mkdirSync(dir, { recursive: true });
  // Unpacked beside the cache and renamed in, so a bad archive never leaves a broken binary behind.
  const staging = fs.mkdtempSync(path.join(dir, '.download-'));
  try {
    const archive = path.join(staging, 'temporal.tar.gz');
    fs.writeFileSync(archive, Buffer.from(await res.arrayBuffer()));
    try {
      execFileSync('tar', ['-xzf', archive, '-C', staging, 'temporal'], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      throw new Error(
        `the downloaded archive has no temporal binary (${String((err as { stderr?: Buffer }).stderr ?? err).trim()})`,
      );
    }
    fs.chmodSync(path.join(staging, 'temporal'), 0o755);
    fs.renameSync(path.join(staging, 'temporal'), cachedCliPath(env));
    return cachedCliPath(env);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

export async function ensureTemporalCli(
  env: NodeJS.ProcessEnv = process.env,
  log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
  opts: EnsureOptions = {},
): Promise<CliLookup> {
  const found = findTemporalCli(env);
  if (found) return found;
  const go = goBinary(env, opts.goInstallPaths ?? GO_INSTALL_PATHS);
  if (go) return { path: buildWithGo(go, env, log), source: 'cache' };
  try {
    return { path: await downloadRelease(env, log, opts), source: 'cache' };
  } catch (err) {
    throw new Error(
      'No Temporal CLI found and none could be installed.\n' +
        `  - Install Go (1.22 or newer) so it can be built: go install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}\n` +
        '  - or put a `temporal` binary on PATH, or set TEMPORAL_CLI_PATH to one,\n' +
        '  - or set TEMPORAL_ADDRESS to use an existing Temporal server.\n' +
        `  (download fallback failed: ${describeFailure(err)})`,
    );
  }
}

/** fetch() says only "fetch failed"; the cause (ENOTFOUND, ECONNREFUSED…) is what a person can act on. */
function describeFailure(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message}: ${cause}` : e.message;
}
