import { Hono, type Context } from 'hono';
import type { AppEnv } from '../auth.js';
import type { RouteDeps } from './deps.js';
import { setFlash, type Flash } from '../flash.js';
import { createJob, JobCommandError, startJob } from '../jobCommands.js';
import { getJob } from '../../db/jobs.js';
import { usableAccounts } from '../../db/teams.js';
import type { JobRow } from '../../db/schema.js';
import { jobView } from '../../domain/jobView.js';
import { zodIssuesToFields } from '../../domain/jobSpec.js';
import { parseUsersCsv } from '../../domain/usersCsv.js';
import { inFormOrder, schemaErrors, type FormError, type JobFormValues } from '../jobForm/formFields.js';
import { defaultValues, readJobForm, valuesFromSpec } from '../jobForm/formToSpec.js';
import { JobForm, type JobFormProps } from '../views/JobForm.js';
import { forbiddenPage, notFoundPage } from './notFoundPage.js';
import { decide } from '../../domain/permissions.js';
import { actorOf } from '../actor.js';
import { linkSettings } from '../linkSettings.js';

/**
 * The new-job form (empty, or cloned from a job) and its submit. A submit
 * that fails shows the form again with everything typed kept, except the
 * secrets; creating goes through jobCommands, so the form applies the same
 * rules as the REST API.
 */
export function jobFormPagesApp(deps: RouteDeps) {
  const { db, config } = deps;
  const secureCookies = config.publicBaseUrl.startsWith('https://');
  const links = linkSettings(config);

  const formProps = async (c: Context<AppEnv>, values: JobFormValues, errors: FormError[]): Promise<JobFormProps> => {
    const who = c.get('principal');
    const accounts = await usableAccounts(db, who.userId, who.role === 'admin');
    // A fresh form starts on the person's first team account.
    const fresh = values.teamAccountId === '' && values.roleArn === '' && errors.length === 0;
    return {
      values: fresh && accounts.length ? { ...values, teamAccountId: accounts[0].id } : values,
      errors,
      regions: config.ALLOWED_REGIONS,
      instanceTypes: config.ALLOWED_INSTANCE_TYPES,
      allowAccessKeys: config.ALLOW_ACCESS_KEY_AUTH,
      accounts: accounts.map((a) => ({ id: a.id, label: `${a.team_name} · ${a.label} (${a.account_id})` })),
      allowTypedRole: !config.TEAM_ACCOUNTS_ONLY,
      csrfToken: c.get('csrfToken'),
      csvPreview: values.usersCsv ? parseUsersCsv(values.usersCsv) : null,
    };
  };

  return new Hono<AppEnv>()
    .get('/new', async (c) => {
      const who = c.get('principal');
      const cloneId = c.req.query('clone');
      const create = decide(who, 'create');
      if (!create.allowed) return forbiddenPage(c, create.message);
      if (cloneId) {
        const job = await getJob(db, cloneId);
        if (!job) return notFoundPage(c, `There is no job ${cloneId} to clone.`);
        const clone = decide(who, 'clone', job);
        if (!clone.allowed) return forbiddenPage(c, clone.message);
        const spec = jobView(job, { links }).spec;
        if (!spec) return notFoundPage(c, `The configuration of job ${cloneId} could not be read.`);
        const props = await formProps(c, valuesFromSpec(config, job, spec), []);
        return c.render(<JobForm {...props} clonedFrom={{ id: job.id, name: job.name }} />, { title: 'New job' });
      }
      return c.render(<JobForm {...(await formProps(c, defaultValues(config), []))} />, { title: 'New job' });
    })
    .post('/', async (c) => {
      const create = decide(c.get('principal'), 'create');
      if (!create.allowed) return forbiddenPage(c, create.message);
      const body = (await c.req.parseBody()) as Record<string, unknown>;
      const intent = body.intent === 'start' ? 'start' : body.intent === 'check' ? 'check' : 'create';
      const form = await readJobForm(body);
      const parsed = deps.specSchema.safeParse(form.input);
      const errors = inFormOrder([
        ...form.early,
        ...(parsed.success ? [] : schemaErrors(zodIssuesToFields(parsed.error), form.containersUnreadable)),
      ]);

      if (errors.length > 0 || intent === 'check' || !parsed.success) {
        c.status(errors.length > 0 ? 422 : 200);
        return c.render(<JobForm {...(await formProps(c, form.values, errors))} checked={errors.length === 0} />, {
          title: errors.length ? 'Fix the new job' : 'New job',
        });
      }

      const actor = actorOf(c, config.TRUST_PROXY);
      let job: JobRow;
      try {
        job = await createJob(deps.commands, parsed.data, actor);
      } catch (err) {
        if (!(err instanceof JobCommandError)) throw err;
        if (err.forbidden) return forbiddenPage(c, err.message);
        // A team's rules name the fields they refuse; access-key jobs start at once (the keys are
        // not kept, so the user gives them again).
        const fieldErrors = err.fields ? inFormOrder(schemaErrors(err.fields, false)) : [{ field: null, message: err.message }];
        c.status(err.fields ? 422 : err.code === 'unavailable' ? 503 : 409);
        return c.render(<JobForm {...(await formProps(c, form.values, fieldErrors))} />, { title: 'Fix the new job' });
      }
      let flash: Flash = {
        kind: 'ok',
        message: job.status === 'draft' ? 'Job created. Start it when you are ready.' : 'Job created and started.',
      };
      if (intent === 'start' && job.status === 'draft') {
        try {
          await startJob(deps.commands, job.id, parsed.data, actor);
          flash = { kind: 'ok', message: 'Job created and started.' };
        } catch (err) {
          if (!(err instanceof JobCommandError)) throw err;
          flash = { kind: 'error', message: `The job was created but not started: ${err.message}` };
        }
      }
      // The redirect leaves the form behind: what was dropped from the CSV travels with the flash.
      const dropped = form.values.usersCsv ? parseUsersCsv(form.values.usersCsv).warnings.map((w) => w.message) : [];
      if (dropped.length) flash = { ...flash, message: `${flash.message} Users CSV: ${dropped.join('; ')}.` };
      setFlash(c, job.id, flash, secureCookies);
      return c.redirect(`/jobs/${encodeURIComponent(job.id)}`, 303);
    });
}
