import type { AppUser } from '../../../domain/usersCsv.js';
import { TableHead } from '../TableHead.js';

/** The users of a CSV: the form's preview and the job page list the same columns. */
export function UsersTable(props: { users: AppUser[] }) {
  return (
    <div class="table-scroll">
      <table class="compact users">
        <TableHead columns={['Username', 'Email', 'Role', 'Display name']} />
        <tbody>
          {props.users.map((u) => (
            <tr>
              <td>{u.username}</td>
              <td>{u.email}</td>
              <td>{u.role ?? ''}</td>
              <td>{u.displayName ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
