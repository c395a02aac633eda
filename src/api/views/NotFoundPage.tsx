export function NotFoundPage(props: { what: string }) {
  return (
    <section class="card narrow">
      <h1>Not found</h1>
      <p>{props.what}</p>
      <p>
        <a href="/">Back to the jobs</a>
      </p>
    </section>
  );
}
