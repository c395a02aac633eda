export interface LoginPageProps {
  next: string;
  error?: string;
  user?: string;
  /** The local admin's form (LOCAL_LOGIN). */
  localLogin: boolean;
  /** The identity provider's button, when OIDC is set up: its label. */
  providerLabel?: string;
  /** The pre-session token the local form posts back (login CSRF). */
  csrfToken: string;
}

export function LoginPage(props: LoginPageProps) {
  return (
    <section class="card narrow">
      <h1>Sign in</h1>
      {props.error ? (
        <p class="error" role="alert">
          {props.error}
        </p>
      ) : null}
      {props.providerLabel ? (
        // A link, not a form: the start redirects to the provider, which form-action 'self' would stop.
        <p>
          <a class="button" href={`/auth/oidc/start?next=${encodeURIComponent(props.next)}`}>
            Sign in with {props.providerLabel}
          </a>
        </p>
      ) : null}
      {props.localLogin ? (
        <form method="post" action="/login">
          {props.providerLabel ? <h2>Local account</h2> : null}
          <input type="hidden" name="_csrf" value={props.csrfToken} />
          <input type="hidden" name="next" value={props.next} />
          <label for="username">User</label>
          <input id="username" name="username" autocomplete="username" required value={props.user ?? ''} />
          <label for="password">Password</label>
          <input id="password" name="password" type="password" autocomplete="current-password" required />
          <button type="submit">Sign in</button>
        </form>
      ) : null}
    </section>
  );
}
