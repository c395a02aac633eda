import type { JobStepRow } from '../../db/schema.js';
import { StatusBadge } from './StatusBadge.js';
import { durationBetween, formatTime, humanize } from './format.js';

export interface TimelineStep {
  step: string;
  /** succeeded | failed | running | cancelled | skipped | pending */
  state: string;
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
  /** Errors of earlier attempts that were retried (`interrupted`: lost to an infrastructure fault, not the job's fault). */
  earlierErrors: { attempt: number; error: string; interrupted: boolean }[];
  detail: string | null;
}

/** job_steps rows (one per attempt, in order) → one entry per step, in the order the steps ran. */
export function timelineFromRows(rows: JobStepRow[], upcoming: string[] = []): TimelineStep[] {
  const byStep = new Map<string, JobStepRow[]>();
  for (const r of rows) byStep.set(r.step, [...(byStep.get(r.step) ?? []), r]);
  const out: TimelineStep[] = [];
  for (const [step, attempts] of byStep) {
    const sorted = [...attempts].sort((a, b) => a.attempt - b.attempt || a.id - b.id);
    const last = sorted[sorted.length - 1];
    out.push({
      step,
      state: last.state,
      attempts: sorted.length === 1 ? last.attempt : sorted.length,
      startedAt: last.started_at,
      finishedAt: last.finished_at,
      error: last.error,
      earlierErrors: sorted
        .slice(0, -1)
        .filter((a) => a.error)
        .map((a) => ({ attempt: a.attempt, error: a.error!, interrupted: a.state === 'interrupted' })),
      detail: last.detail,
    });
  }
  for (const step of upcoming) {
    if (!byStep.has(step)) {
      out.push({ step, state: 'pending', attempts: 0, startedAt: null, finishedAt: null, error: null, earlierErrors: [], detail: null });
    }
  }
  return out;
}

export function StepTimeline(props: { steps: TimelineStep[] }) {
  if (props.steps.length === 0) return <p class="hint">No steps yet: the job has not started.</p>;
  return (
    <ol class="timeline">
      {props.steps.map((s) => (
        <li class={`tl tl-${/^[a-z_]+$/.test(s.state) ? s.state : 'unknown'}`} data-step={s.step}>
          <div class="tl-head">
            <span class="tl-name">{humanize(s.step)}</span>
            <StatusBadge status={s.state} />
            {s.attempts > 1 ? <span class="tl-meta">attempt {s.attempts}</span> : null}
            {s.finishedAt ? (
              <span class="tl-meta">took {durationBetween(s.startedAt, s.finishedAt)}</span>
            ) : s.startedAt ? (
              <span class="tl-meta">
                since <time datetime={s.startedAt}>{formatTime(s.startedAt).slice(11)}</time>
              </span>
            ) : null}
          </div>
          {s.detail ? <p class="tl-detail">{s.detail}</p> : null}
          {s.error ? <p class="tl-error">{s.error}</p> : null}
          {s.earlierErrors.length > 0 ? (
            <details class="tl-retries">
              <summary>{retrySummary(s.earlierErrors)}</summary>
              <ul>
                {s.earlierErrors.map((e) => (
                  <li>
                    attempt {e.attempt}: {e.error}
                  </li>
                ))}
              </ul>
            </details>
          ) : null}
        </li>
      ))}
    </ol>
  );
}

/** "2 earlier attempts failed, 3 interrupted (worker or database lost)": the two kinds count against different budgets. */
export function retrySummary(earlier: { interrupted: boolean }[]): string {
  const interrupted = earlier.filter((e) => e.interrupted).length;
  const failed = earlier.length - interrupted;
  const attempts = (n: number) => `${n} earlier ${n === 1 ? 'attempt' : 'attempts'}`;
  const lost = 'interrupted (worker or database lost)';
  if (!interrupted) return `${attempts(failed)} failed`;
  if (!failed) return `${attempts(interrupted)} ${lost}`;
  return `${attempts(failed)} failed, ${interrupted} ${lost}`;
}
