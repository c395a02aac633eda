import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ACCESS_KEYS_DISABLED_MESSAGE,
  createJobSpecSchema,
  formatIssuePath,
  zodIssuesToFields,
} from '../../src/domain/jobSpec.js';
import { jobSpecInput, POLICY, withSpecDefaults } from './arbitraries/jobSpec.js';
import { applyEdits, edits } from './arbitraries/mutate.js';
import { fieldKeys, namesField } from './support/namesField.js';

/**
 * The job spec is one schema for the form, the API and the worker: any
 * valid spec is accepted as given (plus documented defaults), what it
 * returns is accepted again unchanged (the worker re-reads stored specs),
 * and anything else is refused with a ZodError whose every message names
 * its field; never with another exception.
 */

const RUNS = { numRuns: 150 };
const schema = createJobSpecSchema(POLICY);
const noKeys = createJobSpecSchema({ ...POLICY, allowAccessKeys: false });
const viaS3 = createJobSpecSchema({ ...POLICY, artifactsInS3: true });

const json = (v: unknown) => JSON.parse(JSON.stringify(v));

/** Parses, failing the property on any exception other than a ZodError. */
function parseOrZodError(s: ReturnType<typeof createJobSpecSchema>, input: unknown): z.ZodError | null {
  try {
    s.parse(input);
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(z.ZodError);
    return err as z.ZodError;
  }
}

/** The API's field list, each with the raw path it was made from. */
function fieldsWithPaths(error: z.ZodError) {
  const raw = error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys' && i.keys.length > 0 ? i.keys.map((k) => [...i.path, k]) : [i.path],
  );
  const fields = zodIssuesToFields(error);
  expect(fields).toHaveLength(raw.length);
  return fields.map((f, i) => ({ ...f, raw: raw[i] }));
}

function expectFieldsNamed(error: z.ZodError) {
  expect(error.issues.length).toBeGreaterThan(0);
  for (const field of fieldsWithPaths(error)) {
    expect(field.path).toBe(formatIssuePath(field.raw));
    const leaf = fieldKeys(field.raw).at(-1);
    // By design one message refuses the whole method on such a service, whatever the rest of auth holds.
    if (field.path === 'auth.method' && field.message === ACCESS_KEYS_DISABLED_MESSAGE) continue;
    if (leaf === undefined) expect(field.message).toMatch(/\bjob spec\b/);
    else expect(namesField(field.message, leaf), `"${field.message}" names ${leaf}`).toBe(true);
  }
}

describe('job spec (property)', () => {
  it('accepts any valid spec as given, with the documented defaults, and accepts its own output unchanged', () => {
    fc.assert(
      fc.property(jobSpecInput, (input) => {
        const parsed = schema.safeParse(json(input));
        expect(parsed.error ? zodIssuesToFields(parsed.error) : []).toEqual([]);
        expect(parsed.data).toEqual(withSpecDefaults(input));
        expect(schema.parse(json(parsed.data))).toEqual(parsed.data);
        // Without the user data size rule, the same spec means the same thing.
        expect(viaS3.parse(json(input))).toEqual(parsed.data);
      }),
      RUNS,
    );
  });

  it('stores a users CSV saved with CRLF and a BOM in its canonical form', () => {
    fc.assert(
      fc.property(
        jobSpecInput.filter((s) => s.usersCsv !== undefined),
        (input) => {
          const saved = `\ufeff${input.usersCsv!.replace(/\n/g, '\r\n')}`;
          expect(schema.parse(json({ ...input, usersCsv: saved })).usersCsv).toBe(input.usersCsv);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('refuses access keys on a service that disabled them, at auth.method', () => {
    fc.assert(
      fc.property(
        jobSpecInput.filter((s) => s.auth.method === 'access_keys'),
        (input) => {
          const error = parseOrZodError(noKeys, json(input));
          expect(error).not.toBeNull();
          expect(zodIssuesToFields(error!).map((f) => f.path)).toEqual(['auth.method']);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('refuses edited specs with a ZodError only, every message naming its field', () => {
    fc.assert(
      fc.property(jobSpecInput, edits, fc.boolean(), (input, changes, keysAllowed) => {
        const edited = applyEdits(json(input), changes);
        const error = parseOrZodError(keysAllowed ? schema : noKeys, edited);
        if (error) expectFieldsNamed(error);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses any other JSON value with a ZodError only, every message naming its field', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const error = parseOrZodError(schema, value);
        expect(error).not.toBeNull();
        expectFieldsNamed(error!);
      }),
      RUNS,
    );
  });
});
