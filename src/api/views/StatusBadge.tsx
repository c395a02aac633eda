import { humanize } from '../../domain/jobView.js';

/** A job or step status as a coloured, labelled pill; the text carries the meaning, not the colour. */
export function StatusBadge(props: { status: string; label?: string; id?: string }) {
  const known = /^[a-z_]+$/.test(props.status) ? props.status : 'unknown';
  return (
    <span class={`badge badge-${known}`} id={props.id} data-status={props.status}>
      {props.label ?? humanize(props.status)}
    </span>
  );
}
