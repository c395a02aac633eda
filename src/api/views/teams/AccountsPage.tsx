import { TableHead } from '../TableHead.js';

/** The AWS accounts a person's teams run jobs in, each with its set-up page. */
export function AccountsPage(props: {
  accounts: { id: string; label: string; accountId: string; team: string }[];
  admin: boolean;
}) {
  return (
    <>
      <h1>AWS accounts</h1>
      {props.accounts.length ? (
        <table class="compact stack card">
          <TableHead columns={['Account', 'AWS account id', 'Team']} />
          <tbody>
            {props.accounts.map((a) => (
              <tr data-account-id={a.id}>
                <td data-label="Account">
                  <a href={`/accounts/${encodeURIComponent(a.id)}`}>{a.label}</a>
                </td>
                <td data-label="AWS account id">{a.accountId}</td>
                <td data-label="Team">{a.team}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="hint">
          {props.admin ? (
            <>
              No team has an AWS account yet: <a href="/admin/teams">make a team</a> and add one.
            </>
          ) : (
            'You are in no team with an AWS account yet: ask an admin.'
          )}
        </p>
      )}
    </>
  );
}
