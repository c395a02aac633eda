import { FlashMessage } from '../FlashMessage.js';
import type { Flash } from '../../flash.js';
import { TableHead } from '../TableHead.js';
import { TeamSettingsForm, type TeamFormValues } from './TeamSettingsForm.js';

export interface TeamSummaryView {
  id: string;
  name: string;
  oidcGroup: string | null;
  members: number;
  accounts: number;
  rules: string;
}

/** Every team, and a form for a new one (admins). */
export function TeamsPage(props: {
  teams: TeamSummaryView[];
  csrfToken: string;
  values: TeamFormValues;
  errors: Record<string, string[]>;
  flash?: Flash;
}) {
  return (
    <>
      <h1>Teams</h1>
      <FlashMessage flash={props.flash} />
      <p class="hint">
        A team's people run jobs in its AWS accounts, within its rules. People join through their identity provider's group, or
        are added here.
      </p>
      {props.teams.length ? (
        <div class="table-scroll card">
          <table class="compact stack">
            <TableHead columns={['Team', 'Group', 'People', 'AWS accounts', 'Rules']} />
            <tbody>
              {props.teams.map((t) => (
                <tr data-team-id={t.id}>
                  <td data-label="Team">
                    <a href={`/admin/teams/${encodeURIComponent(t.id)}`}>{t.name}</a>
                  </td>
                  <td data-label="Group">{t.oidcGroup ?? '—'}</td>
                  <td data-label="People">{t.members}</td>
                  <td data-label="AWS accounts">{t.accounts}</td>
                  <td data-label="Rules">{t.rules}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p class="hint">No teams yet.</p>
      )}
      <section class="card" aria-labelledby="new-team-title">
        <h2 id="new-team-title">New team</h2>
        <TeamSettingsForm
          action="/admin/teams"
          csrfToken={props.csrfToken}
          values={props.values}
          errors={props.errors}
          submit="Create team"
        />
      </section>
    </>
  );
}
