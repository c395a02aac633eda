import { html } from 'hono/html';
import type { JobLogRow } from '../../db/schema.js';

export interface LogViewerProps {
  jobId: string;
  /** The last lines, oldest first, rendered so the page shows them even before the script runs. */
  lines: Pick<JobLogRow, 'seq' | 'ts' | 'step' | 'stream' | 'line'>[];
  /** Whether the job can still produce lines (the script then keeps a stream open). */
  live: boolean;
}

/**
 * One line, the markup static/logs.js builds for streamed lines. Written with
 * html`` (every value escaped) rather than JSX: the page carries a few
 * hundred lines, and a JSX element costs about five times as much per line.
 */
export function logLineHtml(l: LogViewerProps['lines'][number]) {
  // The instance's own lines are a source of their own: labelled and styled apart from the steps' output.
  const inst = l.stream === 'instance';
  return html`<div class="${inst ? 'll inst' : l.stream === 'stderr' ? 'll err' : 'll'}" data-seq="${l.seq}"><span class="ls">${inst ? 'instance' : l.step}</span><span class="lt">${l.line}</span></div>`;
}

/**
 * A fixed-height box fed by Server-Sent Events (static/logs.js): it follows
 * the tail unless the reader scrolled up, keeps at most a few thousand lines
 * in the DOM and pages older ones in on request.
 */
export function LogViewer(props: LogViewerProps) {
  const first = props.lines[0]?.seq ?? 0;
  const last = props.lines[props.lines.length - 1]?.seq ?? 0;
  return (
    <section class="card logs" aria-labelledby="logs-title">
      <div class="log-toolbar">
        <h2 id="logs-title">Logs</h2>
        <span id="log-state" class="log-state" aria-live="polite"></span>
        <span class="spacer"></span>
        <label class="log-source">
          Show{' '}
          <select id="log-source" aria-controls="log-box">
            <option value="">all lines</option>
            <option value="steps">the steps (Terraform and the service)</option>
            <option value="instance">the instance's own log</option>
          </select>
        </label>
        <button type="button" id="log-older" class="secondary small" hidden={first <= 1}>
          Load older lines
        </button>
        <button type="button" id="log-jump" class="small" hidden>
          Jump to latest
        </button>
      </div>
      <div
        id="log-box"
        class="log-box"
        tabindex={0}
        role="log"
        aria-live="off"
        aria-label="Job output"
        data-job-id={props.jobId}
        data-first-seq={first}
        data-last-seq={last}
        data-live={props.live ? '1' : '0'}
      >
        {props.lines.map((l) => logLineHtml(l))}
      </div>
    </section>
  );
}
