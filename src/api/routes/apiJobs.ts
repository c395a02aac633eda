import { Hono, type Context } from 'hono';
import { validator } from 'hono/validator';
import type { AppEnv } from '../auth.js';
import type { RouteDeps } from './deps.js';
import { ApiError, validationError } from '../apiErrors.js';
import { apiValidators, bodyGuard, bodyHash, parseOr, specInput } from '../apiInput.js';
import { apiRoutes, subPath } from '../apiRoutes.js';
import { actorOf } from '../actor.js';
import { idempotent } from '../idempotency.js';
import { auditJson, jobJson, stepJson, type CreatedJobJson, type SpecWarning } from '../jobJson.js';
import { linkSettings } from '../linkSettings.js';
import { createJob, signalJob, startJob, type SignalArgs } from '../jobCommands.js';
import { setJobTtl } from '../jobTtl.js';
import { getJob, listJobs, listSteps } from '../../db/jobs.js';
import { listAudit } from '../../db/audit.js';
import { listRevisions } from '../../db/revisions.js';
import { mayHaveOpenWorkflow, mayWaitForWorker, temporalViewsOf } from '../temporalView.js';
import type { JobRow } from '../../db/schema.js';
import type { JobAction } from '../../domain/lifecycle.js';
import { formatCsvError, parseUsersCsv } from '../../domain/usersCsv.js';

/**
 * Jobs through the API: list, create, read, the actions, steps and audit.
 * The state rules live in jobCommands.ts; handlers only parse, call and
 * serialize. Errors are thrown and answered by the API's error handler.
 */
export function apiJobsApp(deps: RouteDeps) {
  const { db, config, commands } = deps;
  const R = apiRoutes(deps.specSchema, deps.changeSchema);
  const { idParam, query, jsonBody } = apiValidators(R);
  const links = linkSettings(config);
  const actor = (c: Context<AppEnv>) => actorOf(c, config.TRUST_PROXY);
  const viewJson = (c: Context<AppEnv>) => (job: JobRow) => jobJson(job, links, c.get('principal'));
  const requireJob = async (id: string): Promise<JobRow> => {
    const job = await getJob(db, id);
    if (!job) throw new ApiError('not_found', `job ${id} not found`);
    return job;
  };
  const noBodyOrJson = bodyGuard({ multipart: false, bodyRequired: false });
  const temporalViews = temporalViewsOf(deps.temporal);
  /** Asked of Temporal only while the job's workflow may be open; nothing whenever it cannot say. */
  const temporalView = async (job: JobRow) => {
    if (!job.workflow_id || !mayHaveOpenWorkflow(job.status, job.has_resources === 1)) return { waiting: null, stalled: null };
    const revision = job.status === 'succeeded' ? (await listRevisions(db, job.id, 1))[0]?.state : undefined;
    return temporalViews(job.workflow_id, { mayWait: mayWaitForWorker(job.status, revision) });
  };

  /** What a valid spec's input had that its stored form leaves out: the users CSV's dropped columns. */
  const specWarnings = (input: unknown, hasUsers: boolean): SpecWarning[] => {
    const csv = (input as { usersCsv?: unknown } | null)?.usersCsv;
    if (!hasUsers || typeof csv !== 'string') return [];
    return parseUsersCsv(csv).warnings.map((w) => ({ path: 'usersCsv', message: `usersCsv ${formatCsvError(w)}` }));
  };

  const app = new Hono<AppEnv>();

  app.on(R.listJobs.method, subPath(R.listJobs), query(R.listJobs.query), async (c) => {
    const q = c.req.valid('query');
    const page = await listJobs(db, { status: q.status, search: q.q?.trim() || undefined, cursor: q.cursor, limit: q.limit });
    return c.json({ jobs: page.jobs.map(viewJson(c)), nextCursor: page.nextCursor }, 200);
  });

  app.on(
    R.createJob.method,
    subPath(R.createJob),
    bodyGuard({ multipart: true, bodyRequired: true }),
    validator('json', async (v, c) => {
      // JSON bodies arrive parsed; multipart ones are read here (validator('json') leaves them alone).
      const input = await specInput(c as Context<AppEnv>, v);
      const spec = parseOr(deps.specSchema, input, (e) => validationError(e, 'the job spec is not valid'));
      return { spec, hash: bodyHash(input), warnings: specWarnings(input, spec.usersCsv !== undefined) };
    }),
    async (c) => {
      const { spec, hash, warnings } = c.req.valid('json');
      return idempotent(db, c, 'POST /api/jobs', hash, async () => {
        const body: CreatedJobJson = { ...viewJson(c)(await createJob(commands, spec, actor(c))), warnings };
        return { status: 201, body };
      });
    },
  );

  app.on(R.getJob.method, subPath(R.getJob), idParam, async (c) => {
    const job = await requireJob(c.req.valid('param').id);
    const { waiting, stalled } = await temporalView(job);
    return c.json({ ...viewJson(c)(job), waitingForWorker: waiting, stalled }, 200);
  });

  app.on(R.runJob.method, subPath(R.runJob), idParam, noBodyOrJson, jsonBody(R.runJob.body.json), async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    return idempotent(db, c, `POST /api/jobs/${id}/run`, bodyHash(body), async () => ({
      status: 202,
      body: viewJson(c)(await startJob(commands, id, undefined, actor(c))),
    }));
  });

  // The signalled actions: each route's body becomes the action's arguments.
  const signals: [
    route: typeof R.cancelJob | typeof R.destroyJob | typeof R.approveJob | typeof R.rejectJob,
    Exclude<JobAction, 'run'>,
    (body: Record<string, string | undefined>) => SignalArgs,
  ][] = [
    [R.cancelJob, 'cancel', (b) => ({ reason: b.reason || undefined })],
    [R.destroyJob, 'destroy', () => ({})],
    [R.approveJob, 'approve', (b) => ({ comment: b.comment || undefined })],
    [R.rejectJob, 'reject', (b) => ({ reason: b.reason })],
  ];
  for (const [route, action, args] of signals) {
    app.on(route.method, subPath(route), idParam, noBodyOrJson, jsonBody(route.body.json), async (c) => {
      const body = c.req.valid('json') as Record<string, string | undefined>;
      const job = await signalJob(commands, c.req.valid('param').id, action, actor(c), args(body));
      return c.json(viewJson(c)(job), 202);
    });
  }

  app.on(
    R.setJobTtl.method,
    subPath(R.setJobTtl),
    idParam,
    bodyGuard({ multipart: false, bodyRequired: true }),
    jsonBody(R.setJobTtl.body.json),
    async (c) => {
      const { ttlHours } = c.req.valid('json') as { ttlHours: number | null };
      return c.json(viewJson(c)(await setJobTtl(commands, c.req.valid('param').id, ttlHours, actor(c))), 200);
    },
  );

  app.on(R.getJobSteps.method, subPath(R.getJobSteps), idParam, async (c) => {
    const job = await requireJob(c.req.valid('param').id);
    return c.json({ jobId: job.id, steps: (await listSteps(db, job.id)).map(stepJson) }, 200);
  });

  app.on(R.getJobAudit.method, subPath(R.getJobAudit), idParam, query(R.getJobAudit.query), async (c) => {
    const job = await requireJob(c.req.valid('param').id);
    const q = c.req.valid('query');
    const rows = await listAudit(db, { jobId: job.id, limit: q.limit, beforeId: q.before });
    return c.json({ jobId: job.id, entries: rows.map(auditJson) }, 200);
  });

  return app;
}
