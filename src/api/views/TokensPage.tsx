import type { Role } from '../../domain/permissions.js';
import { formatTime } from './format.js';
import { TableHead } from './TableHead.js';

export interface TokenRowView {
  id: string;
  name: string;
  role: string;
  owner: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  state: 'active' | 'expired' | 'revoked';
}

export interface TokensPageProps {
  tokens: TokenRowView[];
  /** Roles a new token may have: the person's own and those below it. */
  roles: Role[];
  /** Admins see everyone's tokens: the owner column. */
  showOwner: boolean;
  csrfToken: string;
  /** The secret of the token just created: shown this once. */
  created?: { name: string; secret: string };
  error?: string;
  values?: { name?: string; role?: string; expiresInDays?: string };
}

/** API tokens: the list with last use, revoke buttons, and the form for a new one. */
export function TokensPage(props: TokensPageProps) {
  return (
    <>
      <h1>API tokens</h1>
      {props.created ? (
        <section class="card" aria-labelledby="new-token-title">
          <h2 id="new-token-title">Token {props.created.name} created</h2>
          <p role="status">Copy it now: it is shown only this once, and only its hash is kept.</p>
          <pre class="code" id="new-token-secret">
            {props.created.secret}
          </pre>
          <p class="hint">
            Use it as <code>Authorization: Bearer …</code>.
          </p>
        </section>
      ) : null}
      <section class="card" aria-labelledby="create-token-title">
        <h2 id="create-token-title">New token</h2>
        {props.error ? (
          <p class="error" role="alert">
            {props.error}
          </p>
        ) : null}
        <form method="post" action="/tokens">
          <input type="hidden" name="_csrf" value={props.csrfToken} />
          <label for="token-name">Name</label>
          <input id="token-name" name="name" required maxlength={64} value={props.values?.name ?? ''} autocomplete="off" />
          <label for="token-role">Role</label>
          <select id="token-role" name="role">
            {props.roles.map((r) => (
              <option value={r} selected={(props.values?.role ?? props.roles[props.roles.length - 1]) === r}>
                {r}
              </option>
            ))}
          </select>
          <label for="token-days">Expires after (days, empty for never)</label>
          <input id="token-days" name="expiresInDays" inputmode="numeric" value={props.values?.expiresInDays ?? '90'} />
          <button type="submit">Create token</button>
        </form>
      </section>
      <section class="card" aria-labelledby="tokens-title">
        <h2 id="tokens-title">Tokens</h2>
        {props.tokens.length === 0 ? (
          <p class="hint">No tokens yet.</p>
        ) : (
          <div class="table-scroll">
            <table class="compact stack">
              <TableHead columns={['Name', props.showOwner && 'Owner', 'Role', 'Created', 'Expires', 'Last used', 'State', '']} />
              <tbody>
                {props.tokens.map((t) => (
                  <tr data-token-id={t.id}>
                    <td data-label="Name">{t.name}</td>
                    {props.showOwner ? <td data-label="Owner">{t.owner}</td> : null}
                    <td data-label="Role">{t.role}</td>
                    <td data-label="Created">{formatTime(t.createdAt)}</td>
                    <td data-label="Expires">{t.expiresAt ? formatTime(t.expiresAt) : 'never'}</td>
                    <td data-label="Last used">{t.lastUsedAt ? formatTime(t.lastUsedAt) : 'never'}</td>
                    <td data-label="State">{t.state}</td>
                    <td>
                      {t.state === 'active' ? (
                        <form method="post" action={`/tokens/${encodeURIComponent(t.id)}/revoke`} class="inline">
                          <input type="hidden" name="_csrf" value={props.csrfToken} />
                          <button type="submit" class="danger">
                            Revoke
                          </button>
                        </form>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
