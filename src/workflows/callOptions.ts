import type { ActivityOptions } from '@temporalio/workflow';

/**
 * Activity options decided at each call rather than when the proxy is made:
 * a summary naming the call's step, the Terraform task queue (a patched()
 * question, which belongs to the point in the history where the command is).
 * Options given at the call (executeWithOptions) still win.
 */

export type WithOptions = ((...args: unknown[]) => Promise<unknown>) & {
  executeWithOptions(options: ActivityOptions, args: unknown[]): Promise<unknown>;
};

/** One activity function whose calls carry `extra(args)`. */
export function withCallOptions<F>(fn: F, extra: (args: unknown[]) => ActivityOptions): F {
  const activity = fn as unknown as WithOptions;
  const call = (...args: unknown[]) => activity.executeWithOptions(extra(args), args);
  call.executeWithOptions = (options: ActivityOptions, args: unknown[]) =>
    activity.executeWithOptions({ ...extra(args), ...options }, args);
  return call as unknown as F;
}

/** A proxy whose activities `extraFor` names carry its options at each call; the others are as they were. */
export function proxyWithCallOptions<P extends object>(
  proxy: P,
  extraFor: (name: string) => ((args: unknown[]) => ActivityOptions) | undefined,
): P {
  return new Proxy(proxy, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof name !== 'string' || typeof value !== 'function') return value;
      const extra = extraFor(name);
      return extra ? withCallOptions(value, extra) : value;
    },
  });
}
