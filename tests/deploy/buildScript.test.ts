import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../support/tempDb.js';
import { ROOT, childEnv, collectOutput, waitExit } from '../support/processes.js';

/**
 * scripts/build.mjs on a small project of its own (a copy of the script and
 * the project's tsconfig files, the project's node_modules linked in): what
 * `npm run build` writes, and what `npm run web` / `worker` / `migrate` (which
 * run it with --if-stale first) do when dist/ is missing, fresh or stale, in a
 * checkout and in an image without src/.
 */

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function project() {
  const dir = tempDir('prov-build-');
  dirs.push(dir);
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  };
  write('package.json', JSON.stringify({ name: 'build-probe', private: true, type: 'module' }));
  for (const f of ['tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs'])
    write(f, fs.readFileSync(path.join(ROOT, f), 'utf8'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  write(
    'src/index.ts',
    [
      "import type { Shape } from './types.js';",
      "import { helper } from './lib/helper.js';",
      'export const shape: Shape = { name: helper() };',
      '',
    ].join('\n'),
  );
  write('src/types.ts', 'export interface Shape { name: string }\n');
  write('src/lib/helper.ts', "export function helper(): string {\n  return 'v1';\n}\n");
  write('src/view.tsx', 'export const View = (p: { name: string }) => <p>{p.name}</p>;\n');
  write('src/assets/site.css', 'body { color: red }\n');
  write('src/conv.cjs', "module.exports = { kind: 'cjs' };\n");
  const run = (args: string[]) => {
    const res = spawnSync(process.execPath, ['scripts/build.mjs', ...args], { cwd: dir, env: childEnv({}), encoding: 'utf8' });
    return { code: res.status, out: `${res.stdout}${res.stderr}`, stdout: res.stdout };
  };
  const read = (rel: string) => fs.readFileSync(path.join(dir, rel), 'utf8');
  const stamp = () => JSON.parse(read('dist/.build.json')) as { sources: string; builtAt: string; typechecked: boolean };
  return { dir, write, run, read, stamp };
}

describe('scripts/build.mjs', () => {
  it('compiles src/ into dist/ as ES modules beside copies of every other file, and rebuilds only when a source changed', () => {
    const p = project();
    const first = p.run(['--if-stale']);
    expect(first.code, first.out).toBe(0);
    expect(first.out).toMatch(/dist is missing: building it/);
    expect(first.stdout).toBe(''); // stdout stays free for `npm run bundle-workflows`' path
    // ESM with the .js specifiers as written; the type-only import is gone; JSX through hono/jsx.
    expect(p.read('dist/index.js')).toContain("import { helper } from './lib/helper.js';");
    expect(p.read('dist/index.js')).not.toContain('types.js');
    expect(p.read('dist/view.js')).toMatch(/from "hono\/jsx\/jsx-runtime"/);
    expect(p.read('dist/assets/site.css')).toBe('body { color: red }\n');
    expect(p.read('dist/conv.cjs')).toBe("module.exports = { kind: 'cjs' };\n");
    expect(fs.existsSync(path.join(p.dir, 'dist', 'types.js'))).toBe(true);
    const loaded = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', "console.log((await import('./dist/index.js')).shape.name)"],
      {
        cwd: p.dir,
        encoding: 'utf8',
      },
    );
    expect(loaded.stdout.trim(), loaded.stderr).toBe('v1');
    expect(p.stamp().typechecked).toBe(false);

    // Fresh: nothing to do, nothing said.
    const before = p.stamp();
    const again = p.run(['--if-stale']);
    expect(again).toMatchObject({ code: 0, out: '' });
    expect(p.stamp()).toEqual(before);

    // A changed and a removed source: a whole new dist/, without the removed file's output.
    p.write('src/lib/helper.ts', "export function helper(): string {\n  return 'v2';\n}\n");
    fs.rmSync(path.join(p.dir, 'src', 'view.tsx'));
    const stale = p.run(['--if-stale']);
    expect(stale.code, stale.out).toBe(0);
    expect(stale.out).toMatch(/dist is out of date with src\/: building it/);
    expect(p.read('dist/lib/helper.js')).toContain("'v2'");
    expect(fs.existsSync(path.join(p.dir, 'dist', 'view.js'))).toBe(false);
    expect(p.stamp().sources).not.toBe(before.sources);
    expect(fs.readdirSync(p.dir).filter((f) => f.startsWith('dist.'))).toEqual([]);
  });

  it('type-checks by default and leaves dist/ as it was when the check fails', () => {
    const p = project();
    expect(p.run(['--no-check']).code).toBe(0);
    const before = p.stamp();
    p.write('src/lib/helper.ts', 'export function helper(): string {\n  return 42;\n}\n');
    const failed = p.run([]);
    expect(failed.code).toBe(1);
    expect(failed.out).toMatch(/TS2322/);
    expect(failed.out).toMatch(/type check failed \(exit \d+\); nothing was written/);
    expect(p.stamp()).toEqual(before);
    p.write('src/lib/helper.ts', "export function helper(): string {\n  return 'checked';\n}\n");
    const ok = p.run([]);
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toMatch(/type-checked/);
    expect(p.stamp().typechecked).toBe(true);
  }, 60_000);

  it('builds into another directory with --out-dir', () => {
    const p = project();
    const out = path.join(p.dir, 'elsewhere', 'dist');
    const res = p.run([`--out-dir=${out}`, '--no-check']);
    expect(res.code, res.out).toBe(0);
    expect(fs.existsSync(path.join(out, 'index.js'))).toBe(true);
    expect(fs.existsSync(path.join(out, 'assets', 'site.css'))).toBe(true);
    expect(fs.existsSync(path.join(p.dir, 'dist'))).toBe(false);
  });

  it('in an image without src/: a present dist/ is used as it is, a missing one is a clear error', () => {
    const p = project();
    expect(p.run(['--if-stale']).code).toBe(0);
    fs.rmSync(path.join(p.dir, 'src'), { recursive: true });
    fs.rmSync(path.join(p.dir, 'node_modules'));
    expect(p.run(['--if-stale'])).toMatchObject({ code: 0, out: '' });
    fs.rmSync(path.join(p.dir, 'dist'), { recursive: true });
    const missing = p.run(['--if-stale']);
    expect(missing.code).toBe(1);
    expect(missing.out).toMatch(/dist is missing, and there is no src\/ to build it from/);
  });

  it('says what to do when dist/ is stale and TypeScript is not installed', () => {
    const p = project();
    expect(p.run(['--if-stale']).code).toBe(0);
    fs.rmSync(path.join(p.dir, 'node_modules'));
    p.write('src/lib/helper.ts', "export function helper(): string {\n  return 'v3';\n}\n");
    const res = p.run(['--if-stale']);
    expect(res.code).toBe(1);
    expect(res.out).toMatch(
      /out of date with src\/ and TypeScript \(a dev dependency\) is not installed: run `npm ci` and `npm run build`/,
    );
  });

  it('two builds at once (web and worker started together) leave one complete dist/', async () => {
    const p = project();
    const start = () => {
      const child = spawn(process.execPath, ['scripts/build.mjs', '--if-stale'], {
        cwd: p.dir,
        env: childEnv({}),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out = collectOutput(child);
      return waitExit(child, 50_000).then((code) => ({ code, out: out.text() }));
    };
    const results = await Promise.all([start(), start()]);
    for (const r of results) expect(r.code, r.out).toBe(0);
    expect(
      fs
        .readdirSync(p.dir)
        .filter((f) => f.startsWith('dist'))
        .sort(),
    ).toEqual(['dist']);
    expect(p.read('dist/lib/helper.js')).toContain("'v1'");
    expect(p.run(['--if-stale'])).toMatchObject({ code: 0, out: '' });
  }, 60_000);
});
