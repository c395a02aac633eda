#!/usr/bin/env node
// `npm run build`: compiles src/ to dist/ (ESM JavaScript; dist/ mirrors src/: dist/config.js,
// dist/api/server.js, …) with TypeScript's compiler and tsconfig.build.json, and copies every other
// file under src/ next to it (src/api/static/*, src/temporal/failureConverter.cjs,
// src/worker/bundleWorkflowsChild.mjs, …), so the compiled code finds what it reads beside itself.
//
//   node scripts/build.mjs                  type-check (tsc -p tsconfig.build.json --noEmit), then compile into dist/
//   node scripts/build.mjs --no-check       compile without the type check (the same JavaScript)
//   node scripts/build.mjs --out-dir=DIR    into DIR instead of dist/
//   node scripts/build.mjs --if-stale       only when dist/ is missing or older than the sources, without
//                                           the type check (`npm run web`/`worker`/`migrate` run this first)
//
// dist/.build.json records a hash of the sources it was compiled from. A build goes to a temporary
// directory next to the target and replaces it whole, so no file of a removed source lingers and two
// builds at once (web and worker started together) leave one complete dist/.
//
// Plain JS with no dependencies: it runs in the production image too (there, without src/, it only
// checks that dist/ is there), and loads TypeScript (a dev dependency) only to compile.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(ROOT, 'src');
const STAMP = '.build.json';
/** Besides src/ itself: what else decides the output. */
const BUILD_INPUTS = ['tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs'];
const TS_SOURCE = /\.(ts|tsx|mts|cts)$/;

function filesUnder(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(full));
    else if (entry.isFile()) out.push(full);
  }
  return out.sort();
}

/** A hash of every file under src/ (names and contents) and of the build's own configuration. */
export function sourcesHash() {
  const h = crypto.createHash('sha256');
  const files = [...filesUnder(SRC), ...BUILD_INPUTS.map((f) => path.join(ROOT, f)).filter((f) => fs.existsSync(f))];
  for (const file of files) {
    h.update(`${path.relative(ROOT, file)}\0`);
    h.update(fs.readFileSync(file));
    h.update('\0');
  }
  return h.digest('hex');
}

function readStamp(outDir) {
  try {
    return JSON.parse(fs.readFileSync(path.join(outDir, STAMP), 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * What `--if-stale` sees: `fresh` (nothing to do), `missing` or `stale` (build), or
 * `no-sources` (an image without src/: dist/ is what there is, if it is there).
 */
export function buildState(outDir = path.join(ROOT, 'dist')) {
  const stamp = readStamp(outDir);
  if (!fs.existsSync(SRC)) return { state: stamp ? 'no-sources' : 'missing-no-sources' };
  if (!stamp) return { state: 'missing' };
  return { state: stamp.sources === sourcesHash() ? 'fresh' : 'stale' };
}

function tscPath() {
  try {
    return createRequire(path.join(ROOT, 'package.json')).resolve('typescript/bin/tsc');
  } catch {
    return undefined;
  }
}

function copyAssets(outDir) {
  let copied = 0;
  for (const file of filesUnder(SRC)) {
    if (TS_SOURCE.test(file)) continue;
    const target = path.join(outDir, path.relative(SRC, file));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(file, target);
    copied++;
  }
  return copied;
}

/** Puts the finished build in place of `outDir` (see the note at the top). */
function install(tmp, outDir, stamp) {
  const there = readStamp(outDir);
  if (there?.sources === stamp.sources && (there.typechecked || !stamp.typechecked)) {
    // A build of the same sources is there already (another one finished first): keep it, as
    // whoever started from it meanwhile does. The JavaScript is the same.
    fs.rmSync(tmp, { recursive: true, force: true });
    return;
  }
  const old = `${outDir}.old-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  try {
    fs.renameSync(outDir, old);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  try {
    fs.renameSync(tmp, outDir);
  } catch (err) {
    // Another build put its dist/ there in between: it is at least as new as this one.
    if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  fs.rmSync(old, { recursive: true, force: true });
}

function loadTypeScript() {
  try {
    return createRequire(path.join(ROOT, 'package.json'))('typescript');
  } catch {
    throw new Error(
      'TypeScript is not installed (it is a dev dependency): run `npm ci` (without --omit=dev), then `npm run build`.',
    );
  }
}

const FORMAT_HOST = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => '\n' };

/**
 * Every file of tsconfig.build.json compiled on its own (ts.transpileModule). tsconfig.json sets
 * isolatedModules, which guarantees that this is the JavaScript tsc itself emits; it skips the
 * type information of every package, which makes it several times faster than tsc's emit.
 */
function compile(ts, outDir) {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.join(ROOT, 'tsconfig.build.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.formatDiagnostics([d], FORMAT_HOST));
      },
    },
  );
  if (parsed.errors.length) throw new Error(ts.formatDiagnostics(parsed.errors, FORMAT_HOST));
  const rootDir = parsed.options.rootDir ?? SRC;
  // Under "type": "module" every .ts/.tsx file is an ES module (NodeNext emits it as is); .cts is CommonJS.
  const esm = { ...parsed.options, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler };
  const cjs = { ...parsed.options, module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10 };
  const problems = [];
  let count = 0;
  for (const file of parsed.fileNames) {
    if (/\.d\.[mc]?ts$/.test(file)) continue;
    const res = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
      compilerOptions: file.endsWith('.cts') ? cjs : esm,
      fileName: file,
      reportDiagnostics: true,
    });
    if (res.diagnostics?.length) problems.push(ts.formatDiagnostics(res.diagnostics, FORMAT_HOST));
    const rel = path
      .relative(rootDir, file)
      .replace(/\.(ts|tsx)$/, '.js')
      .replace(/\.mts$/, '.mjs')
      .replace(/\.cts$/, '.cjs');
    const target = path.join(outDir, rel);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, res.outputText);
    count++;
  }
  if (problems.length) throw new Error(`TypeScript could not compile:\n${problems.join('')}`);
  return count;
}

export function build({ outDir = path.join(ROOT, 'dist'), check = true, log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const ts = loadTypeScript();
  const started = Date.now();
  const sources = sourcesHash();
  if (check) {
    const res = spawnSync(process.execPath, [tscPath(), '-p', path.join(ROOT, 'tsconfig.build.json'), '--noEmit'], {
      cwd: ROOT,
      // tsc reports on stdout: keep stdout for the caller (`npm run bundle-workflows` prints a path there).
      stdio: ['ignore', 2, 2],
    });
    if (res.status !== 0)
      throw new Error(`type check failed (${res.signal ?? `exit ${res.status}`}); nothing was written to ${outDir}`);
  }
  fs.mkdirSync(path.dirname(outDir), { recursive: true });
  const tmp = `${outDir}.tmp-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  try {
    const modules = compile(ts, tmp);
    const assets = copyAssets(tmp);
    const stamp = { sources, typechecked: check, typescript: ts.version, builtAt: new Date().toISOString() };
    fs.writeFileSync(path.join(tmp, STAMP), `${JSON.stringify(stamp, null, 2)}\n`);
    install(tmp, outDir, stamp);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    log(
      `built ${path.relative(process.cwd(), outDir) || outDir}: ${modules} modules, ${assets} other files${check ? ', type-checked' : ''} (${seconds} s)`,
    );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function main(argv) {
  const option = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const known = /^--(no-check|if-stale|out-dir=.+)$/;
  const unknown = argv.filter((a) => !known.test(a));
  if (unknown.length) {
    process.stderr.write(
      `build: unknown argument(s) ${unknown.join(' ')}\nusage: node scripts/build.mjs [--no-check] [--out-dir=DIR] [--if-stale]\n`,
    );
    return 2;
  }
  const outDir = path.resolve(option('out-dir') ?? path.join(ROOT, 'dist'));
  try {
    if (argv.includes('--if-stale')) {
      const { state } = buildState(outDir);
      if (state === 'fresh' || state === 'no-sources') return 0;
      if (state === 'missing-no-sources') {
        process.stderr.write(
          `${outDir} is missing, and there is no src/ to build it from: build the image (or run \`npm run build\` in a checkout) first.\n`,
        );
        return 1;
      }
      if (!tscPath()) {
        process.stderr.write(
          `${outDir} is ${state === 'missing' ? 'missing' : 'out of date with src/'} and TypeScript (a dev dependency) is not installed: ` +
            'run `npm ci` and `npm run build`.\n',
        );
        return 1;
      }
      process.stderr.write(
        `${path.relative(process.cwd(), outDir) || outDir} is ${state === 'missing' ? 'missing' : 'out of date with src/'}: building it…\n`,
      );
      build({ outDir, check: false });
      return 0;
    }
    build({ outDir, check: !argv.includes('--no-check') });
    return 0;
  } catch (err) {
    process.stderr.write(`build: ${err.message}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
