import { humanize, type StepView } from '../../domain/jobView.js';
import { StatusBadge } from './StatusBadge.js';
import { durationBetween, formatTime } from './format.js';

export function StepTimeline(props: { steps: StepView[] }) {
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
