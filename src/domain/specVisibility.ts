import type { PublicJobSpec } from './jobSpec.js';

/**
 * What a job's spec shows to someone who may not see its inputs (the users
 * CSV and the containers' environment): the CSV left out, each environment
 * value replaced, so the names still tell what is configured.
 */
export const HIDDEN_VALUE = '(hidden)';

export function withoutInputs(spec: PublicJobSpec): PublicJobSpec {
  const { usersCsv: _csv, ...rest } = spec as PublicJobSpec & { usersCsv?: string };
  return {
    ...(rest as PublicJobSpec),
    containers: spec.containers.map((c) => ({
      ...c,
      environment: Object.fromEntries(Object.keys(c.environment ?? {}).map((k) => [k, HIDDEN_VALUE])),
    })),
  };
}
