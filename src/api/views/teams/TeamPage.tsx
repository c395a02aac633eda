import type { Flash } from '../../flash.js';
import { FlashMessage } from '../FlashMessage.js';
import { formatTime } from '../format.js';
import { TableHead } from '../TableHead.js';
import { TeamSettingsForm, type TeamFormValues } from './TeamSettingsForm.js';

export interface TeamPageProps {
  team: { id: string; name: string };
  settings: TeamFormValues;
  settingsErrors: Record<string, string[]>;
  members: { id: string; name: string; email: string | null; source: string }[];
  /** People who could be added. */
  others: { id: string; name: string }[];
  accounts: { id: string; label: string; accountId: string; roleArn: string; rotatedAt: string | null }[];
  accountErrors: Record<string, string[]>;
  accountValues: { label: string; roleArn: string };
  csrfToken: string;
  flash?: Flash;
}

function Hidden(props: { csrfToken: string }) {
  return <input type="hidden" name="_csrf" value={props.csrfToken} />;
}

function RemoveButton(props: { action: string; csrfToken: string }) {
  return (
    <form method="post" action={props.action} class="inline">
      <Hidden csrfToken={props.csrfToken} />
      <button type="submit" class="danger">
        Remove
      </button>
    </form>
  );
}

/** One team: its rules, its people and its AWS accounts (admins). */
export function TeamPage(props: TeamPageProps) {
  const base = `/admin/teams/${encodeURIComponent(props.team.id)}`;
  const e = props.accountErrors;
  return (
    <>
      <p class="crumbs">
        <a href="/admin/teams">Teams</a> ›
      </p>
      <h1>{props.team.name}</h1>
      <FlashMessage flash={props.flash} />
      <section class="card" aria-labelledby="accounts-title">
        <h2 id="accounts-title">AWS accounts</h2>
        {props.accounts.length ? (
          <table class="compact stack">
            <TableHead columns={['Account', 'Role', 'External ID rotated', '']} />
            <tbody>
              {props.accounts.map((a) => (
                <tr data-account-id={a.id}>
                  <td data-label="Account">
                    <a href={`/accounts/${encodeURIComponent(a.id)}`}>{a.label}</a> ({a.accountId})
                  </td>
                  <td data-label="Role">
                    <code>{a.roleArn}</code>
                  </td>
                  <td data-label="External ID rotated">{a.rotatedAt ? formatTime(a.rotatedAt) : 'never'}</td>
                  <td>
                    <form method="post" action={`/accounts/${encodeURIComponent(a.id)}/rotate`} class="inline">
                      <Hidden csrfToken={props.csrfToken} />
                      <label>
                        old one works for <input name="overlapHours" value="168" size={4} inputmode="numeric" /> h
                      </label>
                      <button type="submit">Rotate external ID</button>
                    </form>
                    <RemoveButton action={`/accounts/${encodeURIComponent(a.id)}/remove`} csrfToken={props.csrfToken} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p class="hint">No AWS account yet: add one, then follow its set-up page.</p>
        )}
        <h3>Add an account</h3>
        <form method="post" action={`${base}/accounts`}>
          <Hidden csrfToken={props.csrfToken} />
          <div class={`field${e.label ? ' has-error' : ''}`}>
            <label for="a-label">Label</label>
            {(e.label ?? []).map((m) => (
              <p class="field-error">{m}</p>
            ))}
            <input id="a-label" name="label" value={props.accountValues.label} placeholder="dev sandbox" />
          </div>
          <div class={`field${e.roleArn ? ' has-error' : ''}`}>
            <label for="a-roleArn">Role ARN (the role you will create)</label>
            {(e.roleArn ?? []).map((m) => (
              <p class="field-error">{m}</p>
            ))}
            <input
              id="a-roleArn"
              name="roleArn"
              value={props.accountValues.roleArn}
              placeholder="arn:aws:iam::123456789012:role/provisioning-service"
            />
          </div>
          <button type="submit">Add account</button>
        </form>
      </section>
      <section class="card" aria-labelledby="members-title">
        <h2 id="members-title">People</h2>
        {props.members.length ? (
          <table class="compact stack">
            <TableHead columns={['Name', 'Email', 'Joined through', '']} />
            <tbody>
              {props.members.map((m) => (
                <tr data-member-id={m.id}>
                  <td data-label="Name">{m.name}</td>
                  <td data-label="Email">{m.email ?? '—'}</td>
                  <td data-label="Joined through">{m.source === 'oidc' ? 'their group' : 'an admin'}</td>
                  <td>
                    <RemoveButton action={`${base}/members/${encodeURIComponent(m.id)}/remove`} csrfToken={props.csrfToken} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p class="hint">Nobody yet.</p>
        )}
        {props.others.length ? (
          <form method="post" action={`${base}/members`}>
            <Hidden csrfToken={props.csrfToken} />
            <label for="m-user">Add a person</label>
            <select id="m-user" name="userId">
              {props.others.map((o) => (
                <option value={o.id}>{o.name}</option>
              ))}
            </select>
            <button type="submit">Add</button>
          </form>
        ) : null}
      </section>
      <section class="card" aria-labelledby="rules-title">
        <h2 id="rules-title">Rules</h2>
        <TeamSettingsForm
          action={base}
          csrfToken={props.csrfToken}
          values={props.settings}
          errors={props.settingsErrors}
          submit="Save rules"
        />
      </section>
    </>
  );
}
