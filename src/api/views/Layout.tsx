import type { Child } from 'hono/jsx';
import { atLeast, type Role } from '../../domain/permissions.js';

export interface LayoutProps {
  title: string;
  user?: string;
  /** The signed-in person's role: which links the navigation offers. */
  role?: Role;
  csrfToken?: string;
  nonce?: string;
  temporalUiUrl?: string;
  children?: Child;
}

/** The one page frame; views below it receive only props. */
export function Layout(props: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · Provisioning`}</title>
        <link rel="icon" href="/static/favicon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="/static/app.css" />
        <script src="/static/app.js" defer nonce={props.nonce}></script>
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="topbar">
          <a class="brand" href="/">
            Provisioning
          </a>
          {props.user ? (
            <nav aria-label="Main">
              <a href="/">Jobs</a>
              {props.role && atLeast(props.role, 'requester') ? <a href="/jobs/new">New job</a> : null}
              <a href="/outbox">Outbox</a>
              <a href="/audit">Audit log</a>
              <a href="/accounts">AWS accounts</a>
              <a href="/tokens">API tokens</a>
              {props.role === 'admin' ? <a href="/admin/teams">Teams</a> : null}
              {props.role === 'admin' ? <a href="/admin/users">Users</a> : null}
              {props.temporalUiUrl ? <a href={props.temporalUiUrl}>Temporal UI</a> : null}
              <form method="post" action="/logout" class="inline">
                <input type="hidden" name="_csrf" value={props.csrfToken ?? ''} />
                <button type="submit" class="link">
                  Sign out {props.user}
                  {props.role ? ` (${props.role})` : ''}
                </button>
              </form>
            </nav>
          ) : null}
        </header>
        <main id="main">{props.children}</main>
      </body>
    </html>
  );
}
