import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layers of src/ as the design draws them: what runs in the worker never
 * reaches into the web layer, the domain is pure, and a migration depends on
 * nothing that can change after it shipped.
 */

const SRC = path.resolve(import.meta.dirname, '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return /\.(ts|tsx|mts|mjs)$/.test(e.name) ? [full] : [];
  });
}

/** Every module a file imports (static imports and re-exports): paths under src/ made relative to it, packages as named. */
function importsOf(file: string, opts: { valuesOnly?: boolean } = {}): string[] {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(import|export)\s+(type\s)?[^;]*?from\s+'([^']+)'/gms)]
    .filter((m) => !(opts.valuesOnly && m[2]))
    .map((m) => (m[3].startsWith('.') ? path.relative(SRC, path.resolve(path.dirname(file), m[3])) : m[3]));
}

const under = (dir: string) => sourceFiles(path.join(SRC, dir));

describe('layering of src/', () => {
  it('keeps the worker, activities, workflows, database and domain out of the web layer', () => {
    for (const dir of ['worker', 'activities', 'workflows', 'db', 'domain', 'notifications', 'temporal', 'reconciler']) {
      for (const file of under(dir)) {
        const intoWeb = importsOf(file).filter((i) => i.startsWith('api/') || i.startsWith('api\\'));
        expect(intoWeb, path.relative(SRC, file)).toEqual([]);
      }
    }
  });

  it('keeps the domain pure: it imports only itself and validation libraries', () => {
    for (const file of under('domain')) {
      // The first-boot script is rendered here (the job spec checks its size): YAML and gzip are pure too.
      const outside = importsOf(file).filter(
        (i) => !i.startsWith('domain/') && !['zod', 'csv-parse/sync', 'yaml', 'node:zlib'].includes(i),
      );
      expect(outside, path.relative(SRC, file)).toEqual([]);
    }
  });

  it('lets migrations import kysely alone (the index lists its siblings)', () => {
    for (const file of under('db/migrations')) {
      const allowed = (i: string) => i === 'kysely' || (file.endsWith('index.ts') && i.startsWith('db/migrations/'));
      expect(
        importsOf(file).filter((i) => !allowed(i)),
        path.relative(SRC, file),
      ).toEqual([]);
    }
  });

  it('gives workflow code no import that would not replay deterministically', () => {
    for (const file of under('workflows')) {
      const allowed = (m: string) =>
        m === '@temporalio/workflow' || m === '@temporalio/common' || m.startsWith('workflows/') || m.startsWith('domain/');
      expect(
        importsOf(file, { valuesOnly: true }).filter((m) => !allowed(m)),
        path.relative(SRC, file),
      ).toEqual([]);
    }
  });
});
