import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { createDataConverter } from '../../src/temporal/dataConverter.js';
import {
  WORKFLOWS_PATH,
  bundleFileName,
  pruneBundleCache,
  workflowBundleHash,
  workflowBundleInputs,
} from '../../src/worker/workflowBundle.js';
import { tempDir } from '../support/tempDb.js';

/**
 * The workflow bundle's file name hashes what goes into it, so that a worker
 * never runs a bundle of older workflow code (see src/worker/workflowBundle.ts).
 */

const failureConverterPath = createDataConverter({ secretKey: 'x'.repeat(16) }).failureConverterPath!;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A small workflow package: entry → helper (value import), entry → types (type-only import). */
function sources() {
  const dir = tempDir('prov-wf-src-');
  dirs.push(dir);
  const write = (name: string, text: string) => fs.writeFileSync(path.join(dir, name), text);
  write(
    'index.ts',
    [
      "import type { Shape } from './types.js';",
      "import { greeting } from './helper.js';",
      "export { other } from './other.js';",
      'export async function hello(s: Shape): Promise<string> {',
      '  return `${greeting} ${s.name}`;',
      '}',
      '',
    ].join('\n'),
  );
  write('helper.ts', "export const greeting = 'hello';\n");
  write('other.ts', 'export const other = 1;\n');
  write('types.ts', 'export interface Shape { name: string }\n');
  return { dir, write, workflowsPath: path.join(dir, 'index.ts') };
}

describe('workflow bundle inputs', () => {
  it('are the real workflows, their local imports, the failure converter and the SDK version', () => {
    const inputs = workflowBundleInputs({ failureConverterPath });
    const rel = inputs.files.map((f) => path.relative(path.dirname(path.dirname(WORKFLOWS_PATH)), f));
    expect(rel).toContain(path.join('workflows', 'index.ts'));
    expect(rel).toContain(path.join('workflows', 'provisionJob.ts'));
    expect(rel).toContain(path.join('workflows', 'messages.ts'));
    expect(rel).toContain(path.join('temporal', 'failureConverter.cjs'));
    // The activities are imported for their types only: not part of the bundle.
    expect(rel.some((f) => f.startsWith('activities'))).toBe(false);
    const sdk = createRequire(import.meta.url)('@temporalio/worker/package.json') as { version: string };
    expect(inputs.packages['@temporalio/worker']).toBe(sdk.version);
    expect(inputs.packages['@temporalio/workflow']).toBe(sdk.version);
  });

  it('of compiled workflows (dist/workflows/index.js, as `npm run worker` bundles them) are the JavaScript files they import', () => {
    const dir = tempDir('prov-wf-dist-');
    dirs.push(dir);
    // What tsc makes of sources(): the type-only import is gone, the .js specifiers stay.
    fs.writeFileSync(
      path.join(dir, 'index.js'),
      "import { greeting } from './helper.js';\nexport { other } from './other.js';\nexport async function hello(s) {\n  return `${greeting} ${s.name}`;\n}\n",
    );
    fs.writeFileSync(path.join(dir, 'helper.js'), "export const greeting = 'hello';\n");
    fs.writeFileSync(path.join(dir, 'other.js'), 'export const other = 1;\n');
    fs.writeFileSync(path.join(dir, 'types.js'), 'export {};\n');
    const workflowsPath = path.join(dir, 'index.js');
    const inputs = workflowBundleInputs({ workflowsPath, failureConverterPath });
    expect(inputs.files.map((f) => path.basename(f)).sort()).toEqual([
      'failureConverter.cjs',
      'helper.js',
      'index.js',
      'other.js',
    ]);
    expect(Object.keys(inputs.packages).filter((k) => k.startsWith('unresolved:'))).toEqual([]);
    const before = workflowBundleHash({ workflowsPath, failureConverterPath });
    fs.writeFileSync(path.join(dir, 'helper.js'), "export const greeting = 'hi';\n");
    expect(workflowBundleHash({ workflowsPath, failureConverterPath })).not.toBe(before);
  });

  it('are those of the code that runs: src/workflows under tsx, dist/workflows when compiled', () => {
    // Here (vitest runs the TypeScript sources) the entry is the source; dist/worker/workflowBundle.js
    // names dist/workflows/index.js (tests/deploy/compiledProcesses.test.ts checks that side).
    expect(WORKFLOWS_PATH).toBe(path.resolve(import.meta.dirname, '..', '..', 'src', 'workflows', 'index.ts'));
  });

  it('follow value imports and re-exports, not type-only imports', () => {
    const src = sources();
    const files = workflowBundleInputs({ workflowsPath: src.workflowsPath, failureConverterPath }).files.map((f) =>
      path.basename(f),
    );
    expect(files).toEqual(expect.arrayContaining(['index.ts', 'helper.ts', 'other.ts', 'failureConverter.cjs']));
    expect(files).not.toContain('types.ts');
  });
});

describe('workflow bundle hash', () => {
  it('changes when any source that goes into the bundle changes, and only then', () => {
    const src = sources();
    const hash = () => workflowBundleHash({ workflowsPath: src.workflowsPath, failureConverterPath });
    const first = hash();
    expect(first).toMatch(/^[0-9a-f]{20}$/);
    expect(hash()).toBe(first);
    expect(bundleFileName(first)).toBe(`workflows-${first}.js`);

    src.write('types.ts', 'export interface Shape { name: string; age?: number }\n');
    expect(hash()).toBe(first);

    src.write('helper.ts', "export const greeting = 'hi';\n");
    const second = hash();
    expect(second).not.toBe(first);

    src.write('other.ts', 'export const other = 2;\n');
    expect(hash()).not.toBe(second);
  });

  it('changes with the failure converter the bundle carries', () => {
    const src = sources();
    const other = path.join(src.dir, 'failureConverter.cjs');
    fs.copyFileSync(failureConverterPath, other);
    const a = workflowBundleHash({ workflowsPath: src.workflowsPath, failureConverterPath });
    const b = workflowBundleHash({ workflowsPath: src.workflowsPath, failureConverterPath: other });
    expect(b).not.toBe(a);
  });
});

describe('bundle cache pruning', () => {
  it("removes bundles unused for a week and dead builders' temp files, never the one in use", () => {
    const dir = tempDir('prov-wf-cache-');
    dirs.push(dir);
    const now = Date.now();
    const file = (name: string, ageMs: number) => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, 'x');
      const t = new Date(now - ageMs);
      fs.utimesSync(p, t, t);
      return p;
    };
    const day = 24 * 3_600_000;
    const inUse = file(bundleFileName('a'.repeat(20)), 30 * day);
    file(bundleFileName('b'.repeat(20)), 8 * day);
    file(bundleFileName('c'.repeat(20)), 1 * day);
    file(`${bundleFileName('d'.repeat(20))}.123.abcd.tmp`, 2 * 3_600_000);
    file(`${bundleFileName('e'.repeat(20))}.456.abcd.tmp`, 60_000);
    file('unrelated.txt', 30 * day);
    const removed = pruneBundleCache(dir, inUse, now);
    expect(removed.sort()).toEqual([bundleFileName('b'.repeat(20)), `${bundleFileName('d'.repeat(20))}.123.abcd.tmp`]);
    expect(fs.readdirSync(dir).sort()).toEqual(
      [
        bundleFileName('a'.repeat(20)),
        bundleFileName('c'.repeat(20)),
        `${bundleFileName('e'.repeat(20))}.456.abcd.tmp`,
        'unrelated.txt',
      ].sort(),
    );
  });
});
