/**
 * Work the web does at start against Temporal, which may not answer yet (it
 * starts beside us, or is being restarted): tried in the background until it
 * is done, 2 s apart at first and a minute at most, so the web serves pages
 * meanwhile. `giveUp` says which errors no retry will mend (logged once by
 * the caller); anything else is retried with `retrying` told why.
 */
export function untilDone(
  work: () => Promise<void>,
  opts: { retrying: (err: unknown) => void; giveUp?: (err: unknown) => boolean },
): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const attempt = async (delayMs: number) => {
    try {
      await work();
    } catch (err) {
      if (stopped || opts.giveUp?.(err)) return;
      opts.retrying(err);
      timer = setTimeout(() => void attempt(Math.min(delayMs * 2, 60_000)), delayMs);
      timer.unref();
    }
  };
  void attempt(2_000);
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
