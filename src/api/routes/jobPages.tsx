import crypto from 'node:crypto';
import { Hono } from 'hono';
import type { AppEnv } from '../auth.js';
import type { RouteDeps } from './deps.js';
import { boundedMemo } from '../boundedMemo.js';
import { setFlash, takeFlash } from '../flash.js';
import { JobCommandError, signalJob, startJob } from '../jobCommands.js';
import { getJob, listSteps } from '../../db/jobs.js';
import { instanceReportLines, logTail } from '../../db/logs.js';
import { listAudit } from '../../db/audit.js';
import { listJobNotifications } from '../../db/notifications.js';
import type { JobRevisionRow, JobRow } from '../../db/schema.js';
import { progressOf } from '../../domain/instanceEvents.js';
import { humanize, jobView, type JobView } from '../../domain/jobView.js';
import { listRevisions } from '../../db/revisions.js';
import { driftView, revisionView } from '../../domain/revisionView.js';
import { actionAllowed, type JobAction, type JobStatus, revisionInProgress } from '../../domain/lifecycle.js';
import { parseUsersCsv, type AppUser } from '../../domain/usersCsv.js';
import { ConfirmPage } from '../views/ConfirmPage.js';
import { JobPage } from '../views/JobPage.js';
import { JobLive, type JobLiveProps } from '../views/jobPage/JobLive.js';
import { forbiddenPage, notFoundPage } from './notFoundPage.js';
import { ttlBody } from '../apiRoutes.js';
import { setJobTtl } from '../jobTtl.js';
import { zodIssuesToFields } from '../../domain/jobSpec.js';
import { decide, type Subject } from '../../domain/permissions.js';
import { actorOf } from '../actor.js';
import { linkSettings } from '../linkSettings.js';
import { mayHaveOpenWorkflow, mayWaitForWorker, temporalViewsOf } from '../temporalView.js';

const LOG_TAIL_LINES = 200;
/** The server-rendered tail stays small whatever the lines' length; the viewer pages in the rest. */
const LOG_TAIL_BYTES = 32 * 1024;
const JOB_USERS_SHOWN = 200;
/** CSVs whose listed users are remembered (a few MB at most). */
const JOB_USERS_MEMO_CSVS = 100;
/** Revisions on the page; the API lists more. */
const REVISIONS_SHOWN = 20;

const DONE: Record<JobAction, string> = {
  run: 'Job started.',
  cancel: 'Cancel requested: the job stops and removes whatever it created.',
  approve: 'Plan approved: the apply starts.',
  reject: 'Plan rejected.',
  destroy: 'Destroy requested.',
};
/** The same actions on a live environment's change in progress. */
const REVISION_DONE: Partial<Record<JobAction, string>> = {
  cancel: 'Cancel of the change requested: the environment keeps running.',
  approve: 'Change approved: the apply starts.',
  reject: 'Change rejected: nothing changes.',
};

/** An optional free-text field of an action form, bounded like the audit's detail. */
function note(v: unknown): string | undefined {
  return (typeof v === 'string' ? v.trim().slice(0, 500) : '') || undefined;
}

/** The newest lines that fit in `budget` bytes, oldest first. */
function tailWithin<T extends { line: string }>(lines: T[], budget: number): T[] {
  let used = 0;
  let from = lines.length;
  while (from > 0) {
    used += Buffer.byteLength(lines[from - 1].line) + 80;
    if (used > budget && from < lines.length) break;
    from -= 1;
  }
  return lines.slice(from);
}

/**
 * The users a job page lists, by a digest of the CSV they come from.
 * Parsing the CSV is a noticeable part of every view of a job page (far
 * more with a big CSV) and a job's CSV does not change; only what the page
 * shows is kept, for a bounded number of CSVs.
 */
function jobUsersCache(): (csv: string | undefined) => { users: AppUser[]; total: number } {
  const usersByCsv = boundedMemo<{ users: AppUser[]; total: number }>(JOB_USERS_MEMO_CSVS);
  return (csv) => {
    if (!csv) return { users: [], total: 0 };
    const key = crypto.createHash('sha256').update(csv).digest('base64url');
    return usersByCsv(key, () => {
      const all = parseUsersCsv(csv).users;
      return { users: all.slice(0, JOB_USERS_SHOWN), total: all.length };
    })!;
  };
}

/** A job's page, the live part its script refreshes, and the action forms' posts. */
export function jobPagesApp(deps: RouteDeps) {
  const { db, config } = deps;
  const secureCookies = config.publicBaseUrl.startsWith('https://');
  const links = linkSettings(config);
  const jobUsers = jobUsersCache();
  const temporalViews = temporalViewsOf(deps.temporal);

  /** Everything the live part of a job page shows. */
  async function liveProps(job: JobRow, viewer: Subject, csrfToken: string): Promise<JobLiveProps> {
    const [steps, audit, notifications, reports, revisionRows] = await Promise.all([
      listSteps(db, job.id),
      listAudit(db, { jobId: job.id, limit: 100 }),
      listJobNotifications(db, job.id),
      instanceReportLines(db, job.id),
      listRevisions(db, job.id, REVISIONS_SHOWN),
    ]);
    const instance = reports.length ? progressOf(job.id, reports) : null;
    const base = jobView(job, { steps, links, viewer });
    // A live environment with a revision in progress is moving too: its page follows the revision.
    const view = revisionInProgress(revisionRows[0]?.state) ? { ...base, active: true } : base;
    const [changes, temporal] = await Promise.all([
      changesProps(job, viewer, view, revisionRows),
      job.workflow_id && mayHaveOpenWorkflow(job.status, job.has_resources === 1)
        ? temporalViews(job.workflow_id, { mayWait: mayWaitForWorker(job.status, revisionRows[0]?.state) })
        : null,
    ]);
    return { view, instance, audit, notifications, csrfToken, changes, waiting: temporal?.waiting, stalled: temporal?.stalled };
  }

  /** The changes card: the latest revision with its steps, and what the viewer may do to it. */
  async function changesProps(
    job: JobRow,
    viewer: Subject,
    view: JobView,
    rows: JobRevisionRow[],
  ): Promise<NonNullable<JobLiveProps['changes']>> {
    const latest = rows[0];
    const revisions = rows.map((r) => revisionView(r));
    if (latest) revisions[0] = revisionView(latest, await listSteps(db, job.id, latest.number));
    const current = revisions[0];
    const live = job.status === 'succeeded';
    const revisionActions: JobAction[] = [];
    if (live && current?.awaitingApproval && current.requestedById !== viewer.userId) {
      if (decide(viewer, 'approve', job).allowed) revisionActions.push('approve', 'reject');
    }
    if (live && current?.inProgress && view.may.change) revisionActions.push('cancel');
    return {
      revisions,
      drift: live ? driftView(job) : null,
      revisionActions,
      canChange: live && view.may.change && !current?.inProgress,
    };
  }

  /** The version is a digest of the HTML itself, so "unchanged" can never hide a change. */
  async function renderLive(props: JobLiveProps): Promise<{ html: string; version: string }> {
    const html = String(await (<JobLive {...props} />).toString());
    return { html, version: crypto.createHash('sha1').update(html).digest('base64url').slice(0, 16) };
  }

  return new Hono<AppEnv>()
    .get('/:id', async (c) => {
      const job = await getJob(db, c.req.param('id'));
      if (!job) return notFoundPage(c, `There is no job ${c.req.param('id')}.`);
      const live = await liveProps(job, c.get('principal'), c.get('csrfToken'));
      const { html: liveHtml, version } = await renderLive(live);
      const { view } = live;
      // A viewer's spec has no CSV: the users section says they are not shown rather than "none".
      const { users, total: usersTotal } = jobUsers(view.spec?.usersCsv);
      c.header('Cache-Control', 'no-store');
      return c.render(
        <JobPage
          {...live}
          users={users}
          usersTotal={usersTotal}
          logLines={tailWithin(await logTail(db, job.id, LOG_TAIL_LINES), LOG_TAIL_BYTES)}
          logLive={view.status !== 'draft' && !view.final}
          flash={takeFlash(c, job.id)}
          liveVersion={version}
          liveHtml={liveHtml}
        />,
        { title: job.name },
      );
    })
    .get('/:id/parts', async (c) => {
      // 204 when the live part has not changed since `v`: most polls of a running job cost no HTML.
      const job = await getJob(db, c.req.param('id'));
      if (!job) return c.text('not found', 404);
      const live = await liveProps(job, c.get('principal'), c.get('csrfToken'));
      const { html, version } = await renderLive(live);
      c.header('Cache-Control', 'no-store');
      c.header('X-Live-Version', version);
      c.header('X-Job-Status', job.status);
      c.header('X-Live-Active', live.view.active ? '1' : '0');
      if (c.req.query('v') === version) return c.body(null, 204);
      return c.html(html);
    })
    .post('/:id/ttl', async (c) => {
      const id = c.req.param('id');
      const body = (await c.req.parseBody()) as Record<string, unknown>;
      const text = typeof body.ttlHours === 'string' ? body.ttlHours.trim() : '';
      const parsed = ttlBody.safeParse({ ttlHours: text === '' ? null : /^\d+(\.\d+)?$/.test(text) ? Number(text) : text });
      const back = () => c.redirect(`/jobs/${encodeURIComponent(id)}`, 303);
      if (!parsed.success) {
        setFlash(c, id, { kind: 'error', message: zodIssuesToFields(parsed.error)[0].message }, secureCookies);
        return back();
      }
      try {
        const job = await setJobTtl(deps.commands, id, parsed.data.ttlHours, actorOf(c, config.TRUST_PROXY));
        const message = job.destroy_at
          ? `Time to live set: destroyed at ${job.destroy_at}.`
          : 'No time to live: the environment stays until destroyed.';
        setFlash(c, id, { kind: 'ok', message }, secureCookies);
      } catch (err) {
        if (!(err instanceof JobCommandError)) throw err;
        if (err.code === 'not_found') return notFoundPage(c, err.message);
        if (err.forbidden) return forbiddenPage(c, err.message);
        setFlash(c, id, { kind: 'error', message: err.message }, secureCookies);
      }
      return back();
    })
    .post('/:id/:action{run|cancel|approve|reject|destroy}', async (c) => {
      const id = c.req.param('id');
      const action = c.req.param('action') as JobAction;
      const body = (await c.req.parseBody()) as Record<string, unknown>;
      const job = await getJob(db, id);
      if (!job) return notFoundPage(c, `There is no job ${id}.`);
      const back = () => c.redirect(`/jobs/${encodeURIComponent(id)}`, 303);
      const actor = actorOf(c, config.TRUST_PROXY);
      const decision = decide(actor, action, job);
      if (!decision.allowed) return forbiddenPage(c, decision.message);

      if ((action === 'cancel' || action === 'destroy') && body.confirmed !== 'yes') {
        if (!actionAllowed(action, job.status as JobStatus, { hasResources: job.has_resources === 1 })) {
          setFlash(c, id, { kind: 'error', message: `Cannot ${action} this job: it is ${humanize(job.status)}.` }, secureCookies);
          return back();
        }
        // Without JavaScript there was no confirm() dialog: ask on a page of its own.
        return c.render(<ConfirmPage job={job} action={action} csrfToken={c.get('csrfToken')} />, {
          title: `${action === 'cancel' ? 'Cancel' : 'Destroy'} ${job.name}?`,
        });
      }
      try {
        if (action === 'run') await startJob(deps.commands, id, undefined, actor);
        else await signalJob(deps.commands, id, action, actor, { reason: note(body.reason), comment: note(body.comment) });
        const message = (job.status === 'succeeded' && REVISION_DONE[action]) || DONE[action];
        setFlash(c, id, { kind: 'ok', message }, secureCookies);
      } catch (err) {
        if (!(err instanceof JobCommandError)) throw err;
        if (err.code === 'not_found') return notFoundPage(c, err.message);
        if (err.forbidden) return forbiddenPage(c, err.message);
        setFlash(c, id, { kind: 'error', message: err.message }, secureCookies);
      }
      return back();
    });
}
