import type { InstanceProgress } from '../../../domain/instanceEvents.js';
import type { JobView } from '../../../domain/jobView.js';
import { CardSection } from '../CardSection.js';
import { StatusBadge } from '../StatusBadge.js';
import { TableHead } from '../TableHead.js';

/**
 * What the instance said about its first boot (its console's report lines):
 * the phase it reached, each container's state, and after a failure the
 * reason, the container's last output and how to look inside.
 */
export function InstanceCard(props: { view: JobView; progress: InstanceProgress | null }) {
  const { view, progress } = props;
  if (!progress) return null;
  const failure = progress.failure;
  const instanceId = view.outputs?.instance_id;
  const region = view.spec?.region;
  return (
    <CardSection id="instance-title" title="Instance">
      {view.resourcesGone ? (
        <p class="hint" id="instance-gone">
          The instance no longer exists: this is what it reported while it ran.
        </p>
      ) : null}
      <dl class="facts">
        <dt>Reported</dt>
        <dd>
          {progress.outcome ? (
            <StatusBadge status={progress.outcome} />
          ) : (
            <>
              working: phase <strong>{progress.phase ?? 'start'}</strong>
            </>
          )}
        </dd>
        {progress.facts.docker ? (
          <>
            <dt>Docker</dt>
            <dd>{progress.facts.docker}</dd>
          </>
        ) : null}
      </dl>
      {progress.containers.length > 0 ? (
        <div class="table-scroll">
          <table class="compact stack instance-containers">
            <TableHead columns={['Container', 'Image', 'State', 'Detail']} />
            <tbody>
              {progress.containers.map((c) => (
                <tr data-container={c.name}>
                  <td data-label="Container">{c.name}</td>
                  <td data-label="Image">
                    <code>{c.image ?? '—'}</code>
                  </td>
                  <td data-label="State">{c.state}</td>
                  <td data-label="Detail">{c.detail ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {failure ? (
        <div class="instance-failure">
          <p class="error">
            Failed at phase <strong>{failure.phase}</strong>
            {failure.container ? ` (container ${failure.container}${failure.image ? `, image ${failure.image}` : ''})` : ''}:{' '}
            {failure.reason}
          </p>
          {failure.output.length > 0 ? <pre class="code">{failure.output.join('\n')}</pre> : null}
        </div>
      ) : null}
      {failure && instanceId && view.hasResources ? (
        <p class="hint" id="ssm-command">
          The instance is still there. Look inside with AWS Systems Manager Session Manager:{' '}
          <code>
            aws ssm start-session --target {instanceId}
            {region ? ` --region ${region}` : ''}
          </code>{' '}
          (then <code>sudo docker compose -f /opt/app/docker-compose.yml logs</code>, and <code>/var/log/provisioning.log</code>).
        </p>
      ) : null}
    </CardSection>
  );
}
