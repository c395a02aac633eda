import type { Flash } from '../../flash.js';
import { FlashMessage } from '../FlashMessage.js';
import { formatTime } from '../format.js';
import { TableHead } from '../TableHead.js';

export interface AccountCheckView {
  assumed: boolean;
  error?: string;
  checks: { action: string; ok: boolean; code?: string; message?: string }[];
}

export interface AccountPageProps {
  account: { id: string; label: string; accountId: string; roleArn: string; roleName: string; teamName: string };
  externalId: string;
  previous: { externalId: string; validUntil: string } | null;
  /** Null until a worker has told which AWS principal it runs as. */
  workerPrincipal: string | null;
  trustPolicy: string;
  permissionsPolicy: string;
  cloudFormation: string;
  terraform: string;
  check?: AccountCheckView;
  csrfToken: string;
  flash?: Flash;
}

function Code(props: { id: string; text: string }) {
  return (
    <pre class="code" id={props.id}>
      {props.text}
    </pre>
  );
}

/**
 * Setting up a team account, in the order a person does it: the role's trust
 * and permissions (as policies, a CloudFormation template or Terraform), then
 * a test of the connection that lists what the role is still denied.
 */
export function AccountPage(props: AccountPageProps) {
  const a = props.account;
  const denied = props.check?.checks.filter((c) => !c.ok) ?? [];
  return (
    <>
      <h1>
        {a.label}{' '}
        <span class="hint">
          ({a.accountId}, team {a.teamName})
        </span>
      </h1>
      <FlashMessage flash={props.flash} />
      <section class="card" aria-labelledby="ids-title">
        <h2 id="ids-title">1. What the role trusts</h2>
        <dl class="facts">
          <dt>Role</dt>
          <dd>
            <code>{a.roleArn}</code>
          </dd>
          <dt>External ID</dt>
          <dd>
            <code id="external-id">{props.externalId}</code>
          </dd>
          {props.previous ? (
            <>
              <dt>Previous external ID</dt>
              <dd>
                <code>{props.previous.externalId}</code> works until {formatTime(props.previous.validUntil)}: put the new one in
                the trust policy before then.
              </dd>
            </>
          ) : null}
          <dt>The service's AWS principal</dt>
          <dd>
            {props.workerPrincipal ? (
              <code id="worker-principal">{props.workerPrincipal}</code>
            ) : (
              'not known yet: a worker records it when it starts with AWS credentials, or at the first connection test'
            )}
          </dd>
        </dl>
        <p>Trust policy of the role (only the service, only with this external ID):</p>
        <Code id="trust-policy" text={props.trustPolicy} />
      </section>
      <section class="card" aria-labelledby="perm-title">
        <h2 id="perm-title">2. What the role may do</h2>
        <p>The least the module and the service's checks need:</p>
        <Code id="permissions-policy" text={props.permissionsPolicy} />
      </section>
      <section class="card" aria-labelledby="create-title">
        <h2 id="create-title">3. Create the role</h2>
        <details open>
          <summary>CloudFormation (deploy in account {a.accountId})</summary>
          <Code id="cloudformation" text={props.cloudFormation} />
        </details>
        <details>
          <summary>Terraform</summary>
          <Code id="terraform" text={props.terraform} />
        </details>
      </section>
      <section class="card" aria-labelledby="test-title">
        <h2 id="test-title">4. Test the connection</h2>
        <form method="post" action={`/accounts/${encodeURIComponent(a.id)}/check`}>
          <input type="hidden" name="_csrf" value={props.csrfToken} />
          <button type="submit">Test connection</button>
        </form>
        {props.check ? (
          <div id="check-result">
            {!props.check.assumed ? (
              <p class="error" role="alert">
                The service could not assume the role: {props.check.error}
              </p>
            ) : denied.length === 0 ? (
              <p role="status">The role works: every call a job needs was allowed.</p>
            ) : (
              <p class="error" role="alert">
                The role is denied {denied.length} of the calls a job needs: {denied.map((d) => d.action).join(', ')}.
              </p>
            )}
            {props.check.checks.length ? (
              <table class="compact stack">
                <TableHead columns={['Call', 'Result']} />
                <tbody>
                  {props.check.checks.map((c) => (
                    <tr data-check={c.action} data-ok={c.ok ? '1' : '0'}>
                      <td data-label="Call">{c.action}</td>
                      <td data-label="Result">
                        {c.ok ? 'allowed' : `${c.code ?? 'failed'}${c.message ? `: ${c.message}` : ''}`}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : null}
          </div>
        ) : null}
      </section>
    </>
  );
}
