import type { Child } from 'hono/jsx';

/** A titled card; its heading names the section, so screen readers list it by that name. */
export function CardSection(props: { id: string; title: Child; children?: Child }) {
  return (
    <section class="card" aria-labelledby={props.id}>
      <h2 id={props.id}>{props.title}</h2>
      {props.children}
    </section>
  );
}
