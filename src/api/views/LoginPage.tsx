export interface LoginPageProps {
  next: string;
  error?: string;
  user?: string;
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
      <form method="post" action="/login">
        <input type="hidden" name="next" value={props.next} />
        <label for="username">User</label>
        <input id="username" name="username" autocomplete="username" required value={props.user ?? ''} />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        <button type="submit">Sign in</button>
      </form>
    </section>
  );
}
