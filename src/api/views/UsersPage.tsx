import { FlashMessage } from './FlashMessage.js';
import { ROLE_DESCRIPTIONS, ROLES } from '../../domain/permissions.js';
import { formatTime } from './format.js';
import { TableHead } from './TableHead.js';

export interface UserRowView {
  id: string;
  name: string;
  email: string | null;
  role: string | null;
  mappedRole: string | null;
  roleOverride: string | null;
  active: boolean;
  lastLoginAt: string | null;
  /** Configured by the operator (local admin, API_TOKENS): no role to set here. */
  configured: boolean;
  self: boolean;
}

export interface UsersPageProps {
  users: UserRowView[];
  csrfToken: string;
  flash?: { kind: 'ok' | 'error'; message: string };
}

/** Users, their roles (from the groups or set here) and deactivation, for admins. */
export function UsersPage(props: UsersPageProps) {
  return (
    <>
      <h1>Users</h1>
      <FlashMessage flash={props.flash} />
      <dl class="facts">
        {ROLES.map((r) => (
          <>
            <dt>{r}</dt>
            <dd>{ROLE_DESCRIPTIONS[r]}</dd>
          </>
        ))}
      </dl>
      <div class="table-scroll card">
        <table class="compact stack">
          <TableHead columns={['Name', 'Email', 'Role', 'From groups', 'Last sign-in', 'State', 'Change']} />
          <tbody>
            {props.users.map((u) => (
              <tr data-user-id={u.id}>
                <td data-label="Name">{u.name}</td>
                <td data-label="Email">{u.email ?? '—'}</td>
                <td data-label="Role">{u.role ?? 'none'}</td>
                <td data-label="From groups">{u.configured ? 'configured' : (u.mappedRole ?? 'none')}</td>
                <td data-label="Last sign-in">{u.lastLoginAt ? formatTime(u.lastLoginAt) : 'never'}</td>
                <td data-label="State">{u.active ? 'active' : 'deactivated'}</td>
                <td data-label="Change">
                  {u.configured ? (
                    <span class="hint">set by configuration</span>
                  ) : (
                    <form method="post" action={`/admin/users/${encodeURIComponent(u.id)}`} class="inline">
                      <input type="hidden" name="_csrf" value={props.csrfToken} />
                      <label for={`role-${u.id}`} class="visually-hidden">
                        Role of {u.name}
                      </label>
                      <select id={`role-${u.id}`} name="role">
                        <option value="" selected={!u.roleOverride}>
                          from groups
                        </option>
                        {ROLES.map((r) => (
                          <option value={r} selected={u.roleOverride === r}>
                            {r}
                          </option>
                        ))}
                      </select>
                      {u.self ? null : (
                        <label>
                          <input type="checkbox" name="active" value="yes" checked={u.active} /> active
                        </label>
                      )}
                      {u.self ? <input type="hidden" name="active" value="yes" /> : null}
                      <button type="submit">Save</button>
                    </form>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
