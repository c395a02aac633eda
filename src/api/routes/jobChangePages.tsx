import { Hono, type Context } from 'hono';
import { getJob } from '../../db/jobs.js';
import type { JobRow } from '../../db/schema.js';
import { type PublicJobSpec, zodIssuesToFields } from '../../domain/jobSpec.js';
import { decide } from '../../domain/permissions.js';
import { parseUsersCsv } from '../../domain/usersCsv.js';
import { actorOf } from '../actor.js';
import type { AppEnv } from '../auth.js';
import { setFlash } from '../flash.js';
import { inFormOrder, schemaErrors, type FormError, type JobFormValues } from '../jobForm/formFields.js';
import { readJobForm, valuesFromSpec } from '../jobForm/formToSpec.js';
import { JobCommandError } from '../jobCommands.js';
import { requestRevision } from '../revisionCommands.js';
import { ChangeForm } from '../views/ChangeForm.js';
import type { RouteDeps } from './deps.js';
import { forbiddenPage, notFoundPage } from './notFoundPage.js';

/**
 * The Change form of a live environment and Reconcile: each asks the job's
 * workflow for a revision through the same command as the API, and the job
 * page then shows it.
 */
export function jobChangePagesApp(deps: RouteDeps) {
  const { db, config } = deps;
  const secureCookies = config.publicBaseUrl.startsWith('https://');
  const artifactsInS3 = Boolean(config.ARTIFACTS_BUCKET);
  const jobPath = (id: string) => `/jobs/${encodeURIComponent(id)}`;

  /** The job, if the person may change it now; otherwise the page or redirect that says why not. */
  async function changeable(c: Context<AppEnv>): Promise<JobRow | Response> {
    const id = c.req.param('id') ?? '';
    const job = await getJob(db, id);
    if (!job) return notFoundPage(c, `There is no job ${id}.`);
    const decision = decide(c.get('principal'), 'change', job);
    if (!decision.allowed) return forbiddenPage(c, decision.message);
    if (job.status !== 'succeeded') {
      setFlash(
        c,
        job.id,
        { kind: 'error', message: `Only a live environment can change; this job is ${job.status.replace('_', ' ')}.` },
        secureCookies,
      );
      return c.redirect(jobPath(job.id), 303);
    }
    return job;
  }

  const render = (c: Context<AppEnv>, job: JobRow, values: JobFormValues, reason: string, errors: FormError[]) => {
    const spec = JSON.parse(job.spec_json) as PublicJobSpec;
    return c.render(
      <ChangeForm
        job={{ id: job.id, name: job.name }}
        values={values}
        reason={reason}
        errors={errors}
        instanceTypes={config.ALLOWED_INSTANCE_TYPES}
        currentVolumeGb={spec.instance.volumeSizeGb}
        approvalRequired={spec.options?.requireApproval === true}
        csrfToken={c.get('csrfToken')}
        csvPreview={values.usersCsv ? parseUsersCsv(values.usersCsv) : null}
      />,
      { title: `Change ${job.name}` },
    );
  };

  return new Hono<AppEnv>()
    .get('/:id/change', async (c) => {
      const job = await changeable(c);
      if (job instanceof Response) return job;
      c.header('Cache-Control', 'no-store');
      return render(c, job, valuesFromSpec(config, job, JSON.parse(job.spec_json) as PublicJobSpec), '', []);
    })
    .post('/:id/change', async (c) => {
      const job = await changeable(c);
      if (job instanceof Response) return job;
      const body = (await c.req.parseBody()) as Record<string, unknown>;
      const form = await readJobForm(body);
      const reason = typeof body.reason === 'string' ? body.reason.trim().slice(0, 500) : '';
      const instance = form.input.instance as Record<string, unknown>;
      const parsed = deps.changeSchema.safeParse({
        instance: {
          type: instance.type,
          volumeSizeGb: instance.volumeSizeGb,
          ingressCidr: form.values.ingressCidr,
          sshCidr: form.values.sshCidr,
        },
        ...(form.containersUnreadable ? {} : { containers: form.input.containers }),
        usersCsv: form.values.usersCsv,
        ...(reason ? { reason } : {}),
      });
      let errors = inFormOrder([
        ...form.early,
        ...(parsed.success ? [] : schemaErrors(zodIssuesToFields(parsed.error), form.containersUnreadable)),
      ]);
      if (errors.length === 0 && parsed.success) {
        try {
          const { revision } = await requestRevision(deps.commands, job.id, parsed.data, actorOf(c, config.TRUST_PROXY), {
            artifactsInS3,
          });
          const message = `Revision ${revision.number} started: it is planned first; follow it below.`;
          setFlash(c, job.id, { kind: 'ok', message }, secureCookies);
          return c.redirect(jobPath(job.id), 303);
        } catch (err) {
          if (!(err instanceof JobCommandError)) throw err;
          if (err.forbidden) return forbiddenPage(c, err.message);
          errors = err.fields?.length ? inFormOrder(schemaErrors(err.fields, false)) : [{ field: null, message: err.message }];
          c.status(err.fields?.length ? 422 : err.code === 'unavailable' ? 503 : 409);
          return render(c, job, form.values, reason, errors);
        }
      }
      c.status(422);
      return render(c, job, form.values, reason, errors);
    })
    .post('/:id/reconcile', async (c) => {
      const job = await changeable(c);
      if (job instanceof Response) return job;
      try {
        const { revision } = await requestRevision(deps.commands, job.id, {}, actorOf(c, config.TRUST_PROXY), {
          kind: 'reconcile',
          artifactsInS3,
        });
        const message = `Revision ${revision.number} started: the declared state is planned and applied again.`;
        setFlash(c, job.id, { kind: 'ok', message }, secureCookies);
      } catch (err) {
        if (!(err instanceof JobCommandError)) throw err;
        if (err.forbidden) return forbiddenPage(c, err.message);
        setFlash(c, job.id, { kind: 'error', message: err.message }, secureCookies);
      }
      return c.redirect(jobPath(job.id), 303);
    });
}
