import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * The workflow bundle, built once per version of the workflow code and kept
 * in a cache directory, so that webpack never runs inside a worker: the
 * bundler runs in a short-lived child process (or ahead of time, with
 * `npm run bundle-workflows`), and the worker only reads the finished file
 * (`workflowBundle: { codePath }`). Bundling in the worker left webpack and
 * its garbage in the worker's memory for the whole life of the process.
 *
 * The file's name carries a hash of everything that goes into it: the
 * workflow sources (every local file the workflow entry reaches through value
 * imports), the failure converter the data converter uses, the versions of the
 * packages they import, and of the Temporal SDK that bundles them. A changed
 * source therefore yields a new file name, and a stale bundle is never used.
 *
 * Files appear atomically: the child writes a temporary file next to the
 * target and renames it, so workers starting at the same time never read a
 * half-written bundle (each may build; the last rename wins, and every
 * version is complete and identical).
 */

const OWN_FILE = fileURLToPath(import.meta.url);
/**
 * The workflows of the code that runs: src/workflows/index.ts under tsx (`npm start`, the tests),
 * dist/workflows/index.js in the compiled worker (`npm run worker`, the image), which needs no
 * src/ and never bundles sources newer than its activities. The two get different hashes, so each
 * finds its own bundle in a shared cache.
 */
export const WORKFLOWS_PATH = path.join(path.dirname(OWN_FILE), '..', 'workflows', `index${path.extname(OWN_FILE)}`);
/** Plain JavaScript next to this module in src/ and in dist/ (the build copies it). */
const CHILD_SCRIPT = path.join(path.dirname(OWN_FILE), 'bundleWorkflowsChild.mjs');
/**
 * Paths in the hash are relative to the project's root, so that a checkout and an image of the same
 * code agree. src/worker/ and dist/worker/ are both two levels below it (tsconfig.build.json's rootDir).
 */
const PROJECT_ROOT = path.resolve(path.dirname(OWN_FILE), '..', '..');

/** Bump when the way we call the bundler changes (options that alter its output). */
const BUNDLE_FORMAT = 'provisioning-workflow-bundle/1';
/** The SDK packages whose code the bundler itself puts into every bundle, or which bundle it. */
const SDK_PACKAGES = ['@temporalio/worker', '@temporalio/workflow', '@temporalio/common'];
/** Bundles nobody has used for this long are removed when a new one is built. */
const UNUSED_BUNDLE_TTL_MS = 7 * 24 * 3_600_000;
/** A temporary file this old belongs to a builder that died. */
const STALE_TMP_MS = 3_600_000;

const BUNDLE_NAME = /^workflows-[0-9a-f]{20}\.js$/;
const TMP_NAME = /^workflows-[0-9a-f]{20}\.js\.\d+\.[0-9a-f]+\.tmp$/;
const SOURCE_MAP_MARKER = '//# sourceMappingURL=data:';

export interface WorkflowBundleSources {
  /** The workflows' entry module. */
  workflowsPath?: string;
  /** The data converter's failureConverterPath: the bundle must carry the same converter. */
  failureConverterPath: string;
}

export interface BundleLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

const silentLog: BundleLog = { info() {}, warn() {} };

// --- what goes into the bundle ------------------------------------------------------------

// `import … from '…'`, `export … from '…'`, `import '…'`; group 1 is `type ` for type-only ones.
const STATIC_IMPORT = /(?:^|[\s;}])(?:import|export)\s+(type\s+)?(?:[^'";]*?\bfrom\s*)?['"]([^'"\n]+)['"]/g;
// `import('…')`, `require('…')`
const CALL_IMPORT = /\b(?:import|require)\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g;

function specifiersOf(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(STATIC_IMPORT)) if (!m[1]) found.push(m[2]);
  for (const m of source.matchAll(CALL_IMPORT)) found.push(m[1]);
  return found;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The file a relative specifier names, the way TypeScript's NodeNext resolution (and the bundler) find it. */
function resolveRelative(fromFile: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(fromFile), spec);
  const candidates = [base];
  const swapped: Record<string, string[]> = { '.js': ['.ts', '.tsx'], '.mjs': ['.mts'], '.cjs': ['.cts'], '.jsx': ['.tsx'] };
  const ext = path.extname(base);
  if (swapped[ext]) candidates.push(...swapped[ext].map((e) => base.slice(0, -ext.length) + e));
  for (const e of ['.ts', '.tsx', '.js', '.mjs', '.cjs', '/index.ts', '/index.tsx', '/index.js']) candidates.push(base + e);
  return candidates.find(isFile);
}

function packageNameOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** The version of a package as seen from `fromFile` (the node_modules lookup Node itself does). */
function packageVersion(fromFile: string, name: string): string {
  for (let dir = path.dirname(fromFile); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'node_modules', name, 'package.json');
    if (isFile(manifest)) {
      try {
        return String(JSON.parse(fs.readFileSync(manifest, 'utf8')).version);
      } catch {
        return 'unreadable';
      }
    }
    if (path.dirname(dir) === dir) return 'missing';
  }
}

export interface BundleInputs {
  /** Local source files, absolute, sorted. */
  files: string[];
  /** name → version of every package those files import, and of the SDK packages. */
  packages: Record<string, string>;
}

/**
 * Every local file the entries reach through value imports (type-only imports
 * are erased before bundling, so they cannot change the bundle), and the
 * versions of the packages imported on the way.
 */
export function workflowBundleInputs(sources: WorkflowBundleSources): BundleInputs {
  const entries = [sources.workflowsPath ?? WORKFLOWS_PATH, sources.failureConverterPath].map((p) => path.resolve(p));
  const seen = new Set<string>();
  const packages: Record<string, string> = {};
  for (const name of SDK_PACKAGES) packages[name] = packageVersion(entries[0], name);
  const queue = [...entries];
  while (queue.length) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of specifiersOf(fs.readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.') || spec.startsWith('/')) {
        const target = resolveRelative(file, spec);
        if (target) queue.push(target);
        else packages[`unresolved:${path.relative(PROJECT_ROOT, file)}:${spec}`] = '';
      } else if (!spec.startsWith('node:')) {
        const name = packageNameOf(spec);
        packages[name] ??= packageVersion(file, name);
      }
    }
  }
  return { files: [...seen].sort(), packages };
}

/** The hash that names the bundle: any change to what goes into it changes the hash. */
export function workflowBundleHash(sources: WorkflowBundleSources): string {
  const { files, packages } = workflowBundleInputs(sources);
  const h = crypto.createHash('sha256');
  h.update(`${BUNDLE_FORMAT}\n`);
  // Which file is the entry and which the failure converter matters, not only their contents.
  h.update(`entry ${path.relative(PROJECT_ROOT, path.resolve(sources.workflowsPath ?? WORKFLOWS_PATH))}\n`);
  h.update(`failure converter ${path.relative(PROJECT_ROOT, path.resolve(sources.failureConverterPath))}\n`);
  for (const name of Object.keys(packages).sort()) h.update(`package ${name}@${packages[name]}\n`);
  for (const file of files) {
    h.update(`file ${path.relative(PROJECT_ROOT, file)} `);
    h.update(crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex'));
    h.update('\n');
  }
  return h.digest('hex').slice(0, 20);
}

export function bundleFileName(hash: string): string {
  return `workflows-${hash}.js`;
}

// --- the cache ----------------------------------------------------------------------------

/** A complete bundle ends with the bundler's inline source map (the worker needs it). */
function isCompleteBundle(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    if (size < 1024) return false;
    // The source map (base64 of the sources) is the last line; its marker sits within the tail.
    const tailSize = Math.min(size, 8 * 1024 * 1024);
    const tail = Buffer.alloc(tailSize);
    fs.readSync(fd, tail, 0, tailSize, size - tailSize);
    const text = tail.toString('latin1');
    const at = text.lastIndexOf(SOURCE_MAP_MARKER);
    // data:application/json;charset=utf-8;base64,<base64> up to the end of the file
    return at >= 0 && /^[\w/.;=-]*;base64,[A-Za-z0-9+/=]+\s*$/.test(text.slice(at + SOURCE_MAP_MARKER.length));
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function writableDir(dir: string): boolean {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Removes bundles unused for a week and temporary files of builders that died; never the one in use. */
export function pruneBundleCache(dir: string, keep: string, now = Date.now()): string[] {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of entries) {
    const file = path.join(dir, name);
    if (file === keep) continue;
    const maxAge = BUNDLE_NAME.test(name) ? UNUSED_BUNDLE_TTL_MS : TMP_NAME.test(name) ? STALE_TMP_MS : undefined;
    if (maxAge === undefined) continue;
    try {
      if (now - fs.statSync(file).mtimeMs > maxAge) {
        fs.rmSync(file, { force: true });
        removed.push(name);
      }
    } catch {
      // another process pruned it first
    }
  }
  return removed;
}

/**
 * Runs the bundler in a child process that writes `target` atomically. The
 * child is killed if this process exits first.
 */
export function buildBundleInChild(sources: Required<WorkflowBundleSources>, target: string, timeoutMs = 300_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD_SCRIPT, sources.workflowsPath, sources.failureConverterPath, target], {
      stdio: ['ignore', 'ignore', 'pipe'],
      // Not the parent's own flags (a loader, --cpu-prof, an inspector port); the child needs none.
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-8_000);
    });
    const killChild = () => child.kill('SIGKILL');
    process.once('exit', killChild);
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeoutMs / 1000} s)`;
      killChild();
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      process.removeListener('exit', killChild);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      process.removeListener('exit', killChild);
      if (code === 0 && isCompleteBundle(target)) resolve();
      else reject(new Error(`bundling the workflows failed (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no output'}`));
    });
  });
}

export interface EnsuredBundle {
  codePath: string;
  hash: string;
  /** False when a cached bundle was used. */
  built: boolean;
}

/**
 * The path of a bundle of the current workflow code: the cached one when its
 * hash matches, otherwise built now (in a child process) into the cache. When
 * the cache directory is not writable (a read-only image whose prebuilt
 * bundle is missing or stale), the bundle goes to the system's temp directory.
 */
export async function ensureWorkflowBundle(opts: {
  cacheDir: string;
  failureConverterPath: string;
  workflowsPath?: string;
  log?: BundleLog;
}): Promise<EnsuredBundle> {
  const log = opts.log ?? silentLog;
  const sources = { workflowsPath: opts.workflowsPath ?? WORKFLOWS_PATH, failureConverterPath: opts.failureConverterPath };
  const hash = workflowBundleHash(sources);
  const name = bundleFileName(hash);
  const fallbackDir = path.join(os.tmpdir(), `provisioning-workflow-bundles-${os.userInfo().uid}`);
  for (const dir of [opts.cacheDir, fallbackDir]) {
    const codePath = path.join(dir, name);
    if (isCompleteBundle(codePath)) {
      try {
        const now = new Date();
        fs.utimesSync(codePath, now, now); // used: kept by pruning
      } catch {
        // a read-only cache (a prebuilt image) is fine
      }
      log.info({ codePath }, 'using the cached workflow bundle');
      return { codePath, hash, built: false };
    }
  }
  let dir = opts.cacheDir;
  if (!writableDir(dir)) {
    log.warn({ cacheDir: dir, fallback: fallbackDir }, 'workflow bundle cache is not writable; bundling into the temp directory');
    dir = fallbackDir;
    fs.mkdirSync(dir, { recursive: true });
  }
  const codePath = path.join(dir, name);
  const started = Date.now();
  await buildBundleInChild(sources, codePath);
  log.info({ codePath, durationMs: Date.now() - started }, 'workflow bundle built');
  const removed = pruneBundleCache(dir, codePath);
  if (removed.length) log.info({ removed }, 'removed unused workflow bundles');
  return { codePath, hash, built: true };
}
