import { CSV_COLUMNS, type AppUser, type CsvRowError, type CsvWarning } from '../../../domain/usersCsv.js';
import { TableHead } from '../TableHead.js';
import { describedBy, FieldErrors, fieldId, type FieldGroupProps } from './fields.js';
import { UsersTable } from './UsersTable.js';

/** What parseUsersCsv found: warnings name what the job leaves out of the file (dropped columns). */
export type CsvPreviewData = { users: AppUser[]; errors: CsvRowError[]; warnings?: CsvWarning[] };

/** A big file would make the page as big: the preview shows its first rows and counts the rest. */
const PREVIEW_ROWS = 100;

/**
 * The users CSV travels with the form as hidden text once uploaded, so a
 * failed submit does not ask for the file again (a browser never refills a
 * file input).
 */
export function UsersCsvField({ values: v, errors, csvPreview }: FieldGroupProps & { csvPreview: CsvPreviewData | null }) {
  const messages = errors.usersCsv ?? [];
  const id = fieldId('usersCsv');
  const warned = (csvPreview?.warnings?.length ?? 0) > 0;
  return (
    <fieldset class="card">
      <legend>Users</legend>
      <div class={`field${messages.length ? ' has-error' : ''}`}>
        <label for={id}>
          Users CSV<span class="optional"> (optional)</span>
        </label>
        <p class="hint" id={`${id}-hint`}>
          Columns username, email, role, display_name (other columns are dropped); UTF-8, at most 1 MB. The instance receives them
          as /opt/app/users.csv.
        </p>
        <FieldErrors id={`${id}-error`} messages={messages} />
        {v.usersCsv ? (
          <p class="kept" id={`${id}-kept`}>
            Using <strong>{v.usersCsvName || 'users.csv'}</strong>
            {csvPreview ? ` (${csvPreview.users.length} valid users)` : ''}. Choose another file to replace it.
          </p>
        ) : null}
        <input
          id={id}
          name="usersCsvFile"
          type="file"
          accept=".csv,text/csv"
          aria-invalid={messages.length ? 'true' : undefined}
          aria-describedby={describedBy(
            `${id}-hint`,
            messages.length && `${id}-error`,
            v.usersCsv && `${id}-kept`,
            warned && `${id}-warnings`,
          )}
        />
        <input type="hidden" name="usersCsvText" value={v.usersCsv} />
        <input type="hidden" name="usersCsvName" value={v.usersCsvName} />
        {v.usersCsv ? (
          <div class="check">
            <input type="checkbox" id="f-usersCsvClear" name="usersCsvClear" value="on" />
            <label for="f-usersCsvClear">Remove the users file</label>
          </div>
        ) : null}
      </div>
      {csvPreview ? <CsvPreview preview={csvPreview} warningsId={`${id}-warnings`} /> : null}
    </fieldset>
  );
}

function CsvPreview(props: { preview: CsvPreviewData; warningsId: string }) {
  const { users, errors, warnings = [] } = props.preview;
  return (
    <div class="csv-preview">
      {warnings.length > 0 ? (
        <div class="csv-warnings" id={props.warningsId}>
          <h3>Left out of the file ({warnings.length})</h3>
          <p class="hint">The job uses only the columns {CSV_COLUMNS.join(', ')}; the others are not stored or sent.</p>
          <ul>
            {warnings.slice(0, PREVIEW_ROWS).map((w) => (
              <li>{w.line === null ? w.message : `Line ${w.line}: ${w.message}`}</li>
            ))}
          </ul>
          {warnings.length > PREVIEW_ROWS ? <p class="hint">…and {warnings.length - PREVIEW_ROWS} more.</p> : null}
        </div>
      ) : null}
      {errors.length > 0 ? (
        <>
          <h3 id="csv-problems">Problems in the file ({errors.length})</h3>
          <div class="table-scroll">
            <table class="compact">
              <TableHead columns={['Line', 'Column', 'Problem']} />
              <tbody>
                {errors.slice(0, PREVIEW_ROWS).map((e) => (
                  <tr class="row-error">
                    <td>{e.line ?? '—'}</td>
                    <td>{e.column ?? ''}</td>
                    <td>{e.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {errors.length > PREVIEW_ROWS ? <p class="hint">…and {errors.length - PREVIEW_ROWS} more.</p> : null}
        </>
      ) : null}
      <h3>
        Preview: {users.length} valid {users.length === 1 ? 'user' : 'users'}
      </h3>
      {users.length > 0 ? <UsersTable users={users.slice(0, PREVIEW_ROWS)} /> : <p class="hint">No valid rows.</p>}
      {users.length > PREVIEW_ROWS ? <p class="hint">…and {users.length - PREVIEW_ROWS} more.</p> : null}
    </div>
  );
}
