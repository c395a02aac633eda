/** The question the confirm() dialog asks, as a page, for a browser without JavaScript. */
export function ConfirmPage(props: { job: { id: string; name: string }; action: 'cancel' | 'destroy'; csrfToken: string }) {
  const { job, action } = props;
  const what =
    action === 'cancel'
      ? 'Cancelling stops the job; whatever it created so far is destroyed.'
      : 'Destroying deletes the instance and everything on it. This cannot be undone.';
  return (
    <section class="card narrow">
      <h1>
        {action === 'cancel' ? 'Cancel' : 'Destroy'} job {job.name}?
      </h1>
      <p>{what}</p>
      <form method="post" action={`/jobs/${encodeURIComponent(job.id)}/${action}`}>
        <input type="hidden" name="_csrf" value={props.csrfToken} />
        <input type="hidden" name="confirmed" value="yes" />
        <button type="submit" class="danger">
          Yes, {action === 'cancel' ? 'cancel the job' : 'destroy it'}
        </button>{' '}
        <a href={`/jobs/${encodeURIComponent(job.id)}`} class="button secondary">
          No, go back
        </a>
      </form>
    </section>
  );
}
