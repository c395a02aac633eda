import { z } from 'zod';

/**
 * The JSON Schema of a zod schema, as the OpenAPI document shows it. zod
 * cannot see into refinements, transforms and preprocessing, and derives a
 * schema that says less than the code checks ("a string"); a schema whose
 * rules live in code carries, through `documented`, the JSON Schema that says
 * the same, and `toJsonSchema` puts it in place of what zod derives. A client
 * (or a fuzzer) that sends what the document allows is then accepted, and
 * what it refuses is refused.
 *
 * Patterns keep to what ECMA-262 and Python's `re` read alike.
 */

export type JsonSchema = Record<string, unknown>;

const statedAs = z.registry<{ jsonSchema: JsonSchema }>();

/** `schema`, documented as `jsonSchema` (its description and default are kept). */
export function documented<T extends z.ZodType>(schema: T, jsonSchema: JsonSchema): T {
  statedAs.add(schema, { jsonSchema });
  return schema;
}

/** The documented JSON Schema of `schema`, else what zod derives (without `$schema`). */
export function toJsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'input'): JsonSchema {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
    target: 'draft-2020-12',
    override: ({ zodSchema, jsonSchema }) => {
      const stated = statedAs.get(zodSchema)?.jsonSchema;
      if (!stated) return;
      const out = jsonSchema as JsonSchema;
      for (const key of Object.keys(out)) if (key !== 'description' && key !== 'default') delete out[key];
      Object.assign(out, structuredClone(stated));
    },
  }) as JsonSchema;
  return rest;
}

/** `schema` where `""` and null also mean "not given" (optionalText in jobSpec.ts). */
export function orNotGiven(schema: JsonSchema): JsonSchema {
  return { anyOf: [schema, { const: '' }, { type: 'null' }] };
}

/** An object whose `field` is given: present, and not one of the "not given" values. */
export function given(field: string): JsonSchema {
  return { required: [field], properties: { [field]: { type: 'string', minLength: 1 } } };
}

/**
 * JSON Schema's if/then: where `condition` holds, so must `consequence`. Built from entries, as an
 * object literal with a `then` reads as a promise to linters (and to `await`).
 */
export function ifThen(condition: JsonSchema, consequence: JsonSchema): JsonSchema {
  return Object.fromEntries([
    ['if', condition],
    ['then', consequence],
  ]);
}
