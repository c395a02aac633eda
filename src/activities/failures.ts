import { ApplicationFailure } from '@temporalio/common';

/**
 * Errors from our modules carry a string `type`; this maps them to Temporal
 * failures so the retry policy can tell bad input (never retried) from
 * throttling (retried with backoff).
 */
export const NON_RETRYABLE_TYPES = new Set([
  'InvalidInput',
  'AccessDenied',
  'InvalidCredentials',
  'PreflightFailed',
  'TerraformConfigError',
  'UserDataTooLarge',
  'NotReady',
  'PlanChangedSinceApproval',
]);

export function toFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  const e = err as { type?: unknown; message?: string; name?: string; field?: string };
  if (e && typeof e === 'object' && typeof e.type === 'string') {
    const details = e.field ? [{ field: e.field }] : undefined;
    return ApplicationFailure.create({
      message: e.message ?? String(err),
      type: e.type,
      nonRetryable: NON_RETRYABLE_TYPES.has(e.type),
      details,
      cause: undefined,
    });
  }
  return err;
}

export async function mapFailures<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw toFailure(err);
  }
}
