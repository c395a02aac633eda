import type { JobSpec } from './jobSpec.js';
import type { JobStep } from './lifecycle.js';

/**
 * The one-line texts Temporal's UI and CLI show for the service's workflows
 * and activities (user metadata), so a person reading the workflow list or a
 * history sees which job and which step without decoding inputs. They travel
 * as payloads: the codec encrypts them like any input, and the UI shows them
 * through /codec. Workflow-safe: the workflows use the activity texts.
 */

/** The workflow list's summary of a job: `demo-web · eu-west-1 · t3.micro`. */
export function jobWorkflowSummary(spec: Pick<JobSpec, 'name' | 'region' | 'instance'>, mode?: 'destroy'): string {
  const summary = `${spec.name} · ${spec.region} · ${spec.instance.type}`;
  return mode === 'destroy' ? `${summary} · destroy only` : summary;
}

/** The job's page, as the workflow's details (markdown: the UI shows a link, the CLI the address). */
export function jobWorkflowDetails(publicBaseUrl: string, jobId: string): string {
  const page = `${publicBaseUrl.replace(/\/$/, '')}/jobs/${encodeURIComponent(jobId)}`;
  return `Job ${jobId}: [${page}](${page})`;
}

/** What each activity does, under the step it belongs to (the job page's step names). */
const ACTIVITY_STEPS: Record<string, { step: JobStep | 'drift check' | 'account check'; what: string }> = {
  verifyCredentials: { step: 'verify', what: 'check the AWS credentials with STS' },
  preflight: { step: 'preflight', what: 'check the account, network and AMI' },
  renderWorkspace: { step: 'render', what: 'write the Terraform workspace' },
  terraformInit: { step: 'init', what: 'terraform init' },
  terraformPlan: { step: 'plan', what: 'terraform plan' },
  terraformApply: { step: 'apply', what: 'terraform apply' },
  terraformOutput: { step: 'output', what: 'terraform output' },
  waitReady: { step: 'ready', what: "wait for the instance's report on its containers" },
  applyOnInstance: { step: 'ready', what: 'run the change on the instance (Run Command)' },
  terraformDestroy: { step: 'destroy', what: 'terraform destroy' },
  notify: { step: 'notify', what: 'email' },
  listLiveJobs: { step: 'drift check', what: 'list the live environments' },
  checkDrift: { step: 'drift check', what: 'terraform plan -refresh-only' },
  checkTeamAccount: { step: 'account check', what: "assume the account's role and try each call a job needs" },
};

/** The step an activity belongs to (the job page's name for it); an activity not listed is named as it is. */
export function stepOfActivity(activity: string): string {
  return ACTIVITY_STEPS[activity]?.step ?? activity;
}

/**
 * An activity's summary, from its name and its argument (the job, the
 * revision, the email's event): `plan: terraform plan`,
 * `revision 2 · apply: terraform apply`, `notify: email "succeeded"`.
 */
export function activitySummary(activity: string, arg?: unknown): string {
  const a = (arg && typeof arg === 'object' ? arg : {}) as Record<string, unknown>;
  const known = ACTIVITY_STEPS[activity];
  let text = known ? `${known.step}: ${known.what}` : activity;
  if (activity === 'notify' && typeof a.event === 'string') text += ` "${a.event}"`;
  if (activity === 'applyOnInstance' && a.rollback) text = 'ready: put the previous containers and users back (Run Command)';
  if (activity === 'checkDrift' && typeof a.jobId === 'string') text += ` of job ${a.jobId}`;
  if (activity === 'checkTeamAccount' && typeof a.teamAccountId === 'string') {
    text += ` (${a.teamAccountId}${typeof a.region === 'string' ? ` in ${a.region}` : ''})`;
  }
  return typeof a.revision === 'number' && a.revision > 0 ? `revision ${a.revision} · ${text}` : text;
}
