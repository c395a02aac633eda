import { Hono, type Context } from 'hono';
import { validator } from 'hono/validator';
import { getJob, listSteps } from '../../db/jobs.js';
import { getRevision, listRevisions } from '../../db/revisions.js';
import type { JobRow } from '../../db/schema.js';
import type { SpecChange } from '../../domain/specChange.js';
import { actorOf } from '../actor.js';
import { ApiError } from '../apiErrors.js';
import { apiValidators, bodyGuard, bodyHash, parseOr } from '../apiInput.js';
import { apiRoutes, subPath } from '../apiRoutes.js';
import type { AppEnv } from '../auth.js';
import { idempotent } from '../idempotency.js';
import { jobJson } from '../jobJson.js';
import { linkSettings } from '../linkSettings.js';
import { requestRevision } from '../revisionCommands.js';
import { revisionDetailJson, revisionJson } from '../revisionRoutes.js';
import type { RouteDeps } from './deps.js';

/** Revisions through the API: change a live environment, reconcile it, list and read its revisions. */
export function apiRevisionsApp(deps: RouteDeps) {
  const { db, config, commands } = deps;
  const R = apiRoutes(deps.specSchema, deps.changeSchema);
  const { idParam, jsonBody } = apiValidators(R);
  const links = linkSettings(config);
  const actor = (c: Context<AppEnv>) => actorOf(c, config.TRUST_PROXY);
  const artifactsInS3 = Boolean(config.ARTIFACTS_BUCKET);
  const requireJob = async (id: string): Promise<JobRow> => {
    const job = await getJob(db, id);
    if (!job) throw new ApiError('not_found', `job ${id} not found`);
    return job;
  };
  const revisionParam = validator('param', (v) => {
    const { id, number } = v as { id?: unknown; number?: unknown };
    return parseOr(
      R.getJobRevision.params,
      v,
      () => new ApiError('not_found', `job ${String(id)}: revision ${String(number)} not found`),
    );
  });

  const app = new Hono<AppEnv>();

  app.on(R.listJobRevisions.method, subPath(R.listJobRevisions), idParam, async (c) => {
    const job = await requireJob(c.req.valid('param').id);
    return c.json({ jobId: job.id, revisions: (await listRevisions(db, job.id)).map(revisionJson) }, 200);
  });

  app.on(R.getJobRevision.method, subPath(R.getJobRevision), revisionParam, async (c) => {
    const { id, number } = c.req.valid('param');
    const job = await requireJob(id);
    const row = await getRevision(db, job.id, number);
    if (!row) throw new ApiError('not_found', `job ${id}: revision ${number} not found`);
    return c.json(revisionDetailJson(row, await listSteps(db, job.id, number)), 200);
  });

  app.on(
    R.createJobRevision.method,
    subPath(R.createJobRevision),
    idParam,
    bodyGuard({ multipart: false, bodyRequired: true }),
    jsonBody(R.createJobRevision.body.json),
    async (c) => {
      const { id } = c.req.valid('param');
      const change = c.req.valid('json') as SpecChange;
      return idempotent(db, c, `POST /api/jobs/${id}/revisions`, bodyHash(change), async () => {
        const { job, revision } = await requestRevision(commands, id, change, actor(c), { artifactsInS3 });
        return { status: 202, body: { job: jobJson(job, links, c.get('principal')), revision: revisionJson(revision) } };
      });
    },
  );

  app.on(
    R.reconcileJob.method,
    subPath(R.reconcileJob),
    idParam,
    bodyGuard({ multipart: false, bodyRequired: false }),
    jsonBody(R.reconcileJob.body.json),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json') as { reason?: string };
      return idempotent(db, c, `POST /api/jobs/${id}/reconcile`, bodyHash(body), async () => {
        const { job, revision } = await requestRevision(commands, id, { reason: body.reason }, actor(c), {
          kind: 'reconcile',
          artifactsInS3,
        });
        return { status: 202, body: { job: jobJson(job, links, c.get('principal')), revision: revisionJson(revision) } };
      });
    },
  );

  return app;
}
