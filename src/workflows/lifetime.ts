import { patched, setHandler } from '@temporalio/workflow';
import { MAX_TTL_HOURS } from '../domain/lifecycle.js';
import type { NotificationEvent } from '../domain/notifications.js';
import type { ActivityProxies } from './activityProxies.js';
import { type JobProgress, setTtlUpdate } from './messages.js';

const HOUR = 3_600_000;
/** A TTL Update records the new time before it takes effect (earlier runs: after). */
const TTL_RECORDED_FIRST = 'ttl-update-recorded-first';

export interface Lifetime {
  /** When the TTL destroys the environment; undefined: no TTL. */
  readonly destroyAtMs: number | undefined;
  /** Whether the TTL changed since takeChange() last said so. */
  readonly changed: boolean;
  /** True once after a TTL change: the wait for the TTL starts over with the new time. */
  takeChange(): boolean;
  /** The TTL warnings still due after `fromMs`, soonest last. */
  warningsFrom(fromMs: number): Array<{ beforeMs: number; event: NotificationEvent }>;
}

/**
 * A job's time to live: counted from the job's start (so the destroy time is
 * known and shown from the start), changed while the environment lives by
 * the setTtl Update, which only a live environment waiting for its destroy
 * takes, and never beyond MAX_TTL_HOURS from the start.
 */
export function lifetime(ctx: {
  jobId: string;
  quick: ActivityProxies['quick'];
  progress: JobProgress;
  jobStartMs: number;
  destroyAtMs: number | undefined;
  isLive: () => boolean;
}): Lifetime {
  const { jobId, quick, progress, jobStartMs } = ctx;
  let destroyAtMs = ctx.destroyAtMs;
  let changed = false;
  progress.destroyAt = destroyAtMs !== undefined ? new Date(destroyAtMs).toISOString() : undefined;
  setHandler(
    setTtlUpdate,
    async ({ ttlHours: hours }) => {
      const nextMs = hours === null ? undefined : Date.now() + hours * HOUR;
      const destroyAt = nextMs !== undefined ? new Date(nextMs).toISOString() : null;
      const apply = () => {
        destroyAtMs = nextMs;
        progress.destroyAt = destroyAt ?? undefined;
        changed = true;
      };
      if (patched(TTL_RECORDED_FIRST)) {
        // Recorded first: should the database stay out of reach, the Update fails and nothing changed.
        await quick.recordJob({ jobId, destroyAt });
        apply();
      } else {
        // Jobs that took TTL Updates before: the new time was in force before it was recorded.
        apply();
        await quick.recordJob({ jobId, destroyAt });
      }
      return { destroyAt };
    },
    {
      // Only a live environment waiting for its destroy has a life to change, and never beyond the longest.
      validator: ({ ttlHours: hours }) => {
        if (!ctx.isLive()) {
          throw new Error(`the time to live of a job that is ${progress.status.replace('_', ' ')} cannot change`);
        }
        if (hours !== null && !(hours > 0)) throw new Error('ttlHours must be more than 0');
        const limit = jobStartMs + MAX_TTL_HOURS * HOUR;
        if (hours !== null && Date.now() + hours * HOUR > limit) {
          throw new Error(
            `the environment may live at most ${MAX_TTL_HOURS} hours from the job's start (until ${new Date(limit).toISOString()})`,
          );
        }
      },
    },
  );
  return {
    get destroyAtMs() {
      return destroyAtMs;
    },
    get changed() {
      return changed;
    },
    takeChange() {
      const was = changed;
      changed = false;
      return was;
    },
    // Warnings only make sense when the TTL leaves room for them after the start (or after a TTL change).
    warningsFrom: (fromMs) =>
      [
        { beforeMs: 24 * HOUR, event: 'ttl_warning_24h' as const },
        { beforeMs: HOUR, event: 'ttl_warning_1h' as const },
      ].filter((w) => destroyAtMs !== undefined && destroyAtMs - w.beforeMs > fromMs),
  };
}
