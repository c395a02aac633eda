import { Hono, type Context } from 'hono';
import type { z } from 'zod';
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { AppEnv } from '../auth.js';
import type { RouteDeps } from './deps.js';
import { actorOf } from '../actor.js';
import { CommandError } from '../commandError.js';
import { setFlash, takeFlash } from '../flash.js';
import {
  addAccount,
  changeTeam,
  createTeam,
  readableAccount,
  removeAccount,
  rotateAccount,
  setMembership,
} from '../teamCommands.js';
import { accountInput, rotateInput, teamInput } from '../teamInputs.js';
import { teamAccountOnboarding } from '../teamOnboarding.js';
import { getTeam, listAccounts, listMembers, listTeams, usableAccounts } from '../../db/teams.js';
import { listUsers } from '../../db/users.js';
import { zodIssuesToFields } from '../../domain/jobSpec.js';
import { AWS_ACCOUNT_ID, REGION, TEAM } from '../../workflows/searchAttributes.js';
import type { TeamRow } from '../../db/schema.js';
import { AccountPage, type AccountCheckView } from '../views/teams/AccountPage.js';
import { AccountsPage } from '../views/teams/AccountsPage.js';
import { TeamPage } from '../views/teams/TeamPage.js';
import { TeamsPage } from '../views/teams/TeamsPage.js';
import type { TeamFormValues } from '../views/teams/TeamSettingsForm.js';
import { forbiddenPage, notFoundPage } from './notFoundPage.js';

type Errors = Record<string, string[]>;

const CHECK_WAIT_MS = 90_000;

/** Whether any worker polls the task queue now (its pollers of the last minutes, as Temporal keeps them). */
async function workerPolls(client: Client, namespace: string, taskQueue: string): Promise<boolean> {
  const res = await client.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  return (res.pollers ?? []).length > 0;
}

function fieldErrors(fields: { path: string; message: string }[]): Errors {
  const out: Errors = {};
  for (const f of fields) {
    const key = f.path.split('.')[0] || '_';
    out[key] ??= [];
    out[key].push(f.message);
  }
  return out;
}

const zodErrors = (e: z.ZodError) => fieldErrors(zodIssuesToFields(e));

const EMPTY_TEAM: TeamFormValues = {
  name: '',
  oidcGroup: '',
  regions: '',
  instanceTypes: '',
  maxTtlHours: '',
  maxLiveJobs: '',
  approvalPolicy: 'never',
};

function teamValues(t: TeamRow): TeamFormValues {
  const list = (json: string | null) => (json ? (JSON.parse(json) as string[]).join(', ') : '');
  return {
    name: t.name,
    oidcGroup: t.oidc_group ?? '',
    regions: list(t.allowed_regions),
    instanceTypes: list(t.allowed_instance_types),
    maxTtlHours: t.max_ttl_hours?.toString() ?? '',
    maxLiveJobs: t.max_live_jobs?.toString() ?? '',
    approvalPolicy: t.approval_policy,
  };
}

function formValues(body: Record<string, unknown>): TeamFormValues {
  const s = (k: keyof TeamFormValues) => (typeof body[k] === 'string' ? (body[k] as string) : '');
  return {
    name: s('name'),
    oidcGroup: s('oidcGroup'),
    regions: s('regions'),
    instanceTypes: s('instanceTypes'),
    maxTtlHours: s('maxTtlHours'),
    maxLiveJobs: s('maxLiveJobs'),
    approvalPolicy: s('approvalPolicy') || 'never',
  };
}

/** Teams and their accounts: admins manage them; a team's people read its accounts' set-up pages. */
export function teamPagesApp(deps: RouteDeps) {
  const { db, config } = deps;
  const secureCookies = config.publicBaseUrl.startsWith('https://');
  const actor = (c: Context<AppEnv>) => actorOf(c, config.TRUST_PROXY);
  const global = { regions: config.ALLOWED_REGIONS, instanceTypes: config.ALLOWED_INSTANCE_TYPES };
  const adminOnly = (c: Context<AppEnv>) =>
    c.get('principal').role === 'admin'
      ? null
      : forbiddenPage(c, `Managing teams needs the admin role; you are a ${c.get('principal').role}.`);
  const flash = (c: Context<AppEnv>, kind: 'ok' | 'error', message: string) =>
    setFlash(c, 'teams', { kind, message }, secureCookies);

  async function teamsPage(c: Context<AppEnv>, values = EMPTY_TEAM, errors: Errors = {}) {
    const teams = await listTeams(db);
    const rows = await Promise.all(
      teams.map(async (t) => {
        const [members, accounts] = await Promise.all([listMembers(db, t.id), listAccounts(db, t.id)]);
        const rules = [
          t.allowed_regions ? `regions ${JSON.parse(t.allowed_regions).join(', ')}` : null,
          t.allowed_instance_types ? `types ${JSON.parse(t.allowed_instance_types).join(', ')}` : null,
          t.max_ttl_hours ? `TTL ≤ ${t.max_ttl_hours} h` : null,
          t.max_live_jobs ? `≤ ${t.max_live_jobs} live` : null,
          t.approval_policy !== 'never' ? `approval: ${t.approval_policy.replace('_', ' ')}` : null,
        ].filter(Boolean);
        return {
          id: t.id,
          name: t.name,
          oidcGroup: t.oidc_group,
          members: members.length,
          accounts: accounts.length,
          rules: rules.join('; ') || 'the service’s',
        };
      }),
    );
    return c.render(
      <TeamsPage teams={rows} csrfToken={c.get('csrfToken')} values={values} errors={errors} flash={takeFlash(c, 'teams')} />,
      {
        title: 'Teams',
      },
    );
  }

  async function teamPage(
    c: Context<AppEnv>,
    team: TeamRow,
    extra: {
      settings?: TeamFormValues;
      settingsErrors?: Errors;
      accountErrors?: Errors;
      accountValues?: { label: string; roleArn: string };
    } = {},
  ) {
    const [members, accounts, users] = await Promise.all([listMembers(db, team.id), listAccounts(db, team.id), listUsers(db)]);
    const inTeam = new Set(members.map((m) => m.id));
    return c.render(
      <TeamPage
        team={{ id: team.id, name: team.name }}
        settings={extra.settings ?? teamValues(team)}
        settingsErrors={extra.settingsErrors ?? {}}
        members={members.map((m) => ({ id: m.id, name: m.name, email: m.email, source: m.source }))}
        others={users.filter((u) => !inTeam.has(u.id) && u.active === 1).map((u) => ({ id: u.id, name: u.name }))}
        accounts={accounts.map((a) => ({
          id: a.id,
          label: a.label,
          accountId: a.account_id,
          roleArn: a.role_arn,
          rotatedAt: a.rotated_at,
        }))}
        accountErrors={extra.accountErrors ?? {}}
        accountValues={extra.accountValues ?? { label: '', roleArn: '' }}
        csrfToken={c.get('csrfToken')}
        flash={takeFlash(c, 'teams')}
      />,
      { title: team.name },
    );
  }

  async function accountPage(c: Context<AppEnv>, id: string, check?: AccountCheckView) {
    let account: Awaited<ReturnType<typeof readableAccount>>;
    try {
      account = await readableAccount(db, actor(c), id);
    } catch {
      return notFoundPage(c, `There is no AWS account ${id} in your teams.`);
    }
    const team = (await getTeam(db, account.team_id))!;
    const stateBackend = config.TF_STATE_BUCKET
      ? {
          bucket: config.TF_STATE_BUCKET,
          keyPrefix: config.TF_STATE_KEY_PREFIX,
          lockTable: config.TF_STATE_LOCK_TABLE,
          roleArn: config.TF_STATE_ROLE_ARN,
        }
      : undefined;
    const props = await teamAccountOnboarding(db, account, team.name, stateBackend);
    c.header('Cache-Control', 'no-store');
    return c.render(<AccountPage {...props} check={check} csrfToken={c.get('csrfToken')} flash={takeFlash(c, 'teams')} />, {
      title: `${account.label}: set-up`,
    });
  }

  const refused = (c: Context<AppEnv>, err: unknown) => {
    if (!(err instanceof CommandError)) throw err;
    if (err.code === 'not_found') return notFoundPage(c, err.message);
    if (err.forbidden) return forbiddenPage(c, err.message);
    return null;
  };

  return new Hono<AppEnv>()
    .get('/accounts', async (c) => {
      const who = c.get('principal');
      const accounts = await usableAccounts(db, who.userId, who.role === 'admin');
      return c.render(
        <AccountsPage
          accounts={accounts.map((a) => ({ id: a.id, label: a.label, accountId: a.account_id, team: a.team_name }))}
          admin={who.role === 'admin'}
        />,
        { title: 'AWS accounts' },
      );
    })
    .get('/accounts/:id', (c) => accountPage(c, c.req.param('id')))
    .post('/accounts/:id/check', async (c) => {
      const account = await readableAccount(db, actor(c), c.req.param('id')).catch(() => null);
      if (!account) return notFoundPage(c, `There is no AWS account ${c.req.param('id')} in your teams.`);
      let check: AccountCheckView;
      try {
        // The test runs on a worker, with the worker's own AWS identity: none up, no test.
        if (!(await workerPolls(deps.temporal, config.TEMPORAL_NAMESPACE, config.TEMPORAL_TASK_QUEUE))) {
          throw new Error(`no worker is running on task queue ${config.TEMPORAL_TASK_QUEUE}; start one and test again`);
        }
        const region = config.ALLOWED_REGIONS[0] ?? 'us-east-1';
        check = await deps.temporal.withDeadline(Date.now() + CHECK_WAIT_MS, () =>
          deps.temporal.workflow.execute('checkTeamAccount', {
            taskQueue: config.TEMPORAL_TASK_QUEUE,
            workflowId: `check-${account.id}-${Date.now()}`,
            args: [{ teamAccountId: account.id, region }],
            workflowExecutionTimeout: CHECK_WAIT_MS,
            // Findable with the team's jobs (Team, AwsAccountId), and named in the Temporal UI.
            staticSummary: `test connection: ${account.label} (${account.account_id}) · ${region}`,
            typedSearchAttributes: [
              { key: TEAM, value: account.team_id },
              { key: AWS_ACCOUNT_ID, value: account.account_id },
              { key: REGION, value: region },
            ],
          }),
        );
      } catch (err) {
        check = { assumed: false, error: `the test did not run: ${(err as Error).message}`, checks: [] };
      }
      return accountPage(c, account.id, check);
    })
    .post('/accounts/:id/rotate', async (c) => {
      const body = (await c.req.parseBody()) as Record<string, unknown>;
      const parsed = rotateInput.safeParse({ overlapHours: body.overlapHours });
      if (!parsed.success) {
        flash(c, 'error', zodIssuesToFields(parsed.error)[0].message);
        return c.redirect(`/accounts/${encodeURIComponent(c.req.param('id'))}`, 303);
      }
      try {
        const a = await rotateAccount(db, actor(c), c.req.param('id'), parsed.data.overlapHours);
        flash(
          c,
          'ok',
          `New external ID for ${a.label}: update the role's trust policy; the old one works ${parsed.data.overlapHours} h more.`,
        );
        return c.redirect(`/accounts/${encodeURIComponent(a.id)}`, 303);
      } catch (err) {
        return refused(c, err) ?? c.redirect('/admin/teams', 303);
      }
    })
    .post('/accounts/:id/remove', async (c) => {
      try {
        const account = await readableAccount(db, actor(c), c.req.param('id'));
        await removeAccount(db, actor(c), account.id);
        flash(c, 'ok', `Removed ${account.label}.`);
        return c.redirect(`/admin/teams/${encodeURIComponent(account.team_id)}`, 303);
      } catch (err) {
        return refused(c, err) ?? c.redirect('/admin/teams', 303);
      }
    })
    .get('/admin/teams', (c) => adminOnly(c) ?? teamsPage(c))
    .post('/admin/teams', async (c) => {
      const denied = adminOnly(c);
      if (denied) return denied;
      const values = formValues((await c.req.parseBody()) as Record<string, unknown>);
      const parsed = teamInput.safeParse(values);
      if (!parsed.success) {
        c.status(422);
        return teamsPage(c, values, zodErrors(parsed.error));
      }
      try {
        const team = await createTeam(db, actor(c), parsed.data, global);
        flash(c, 'ok', `Team ${team.name} created: add its AWS accounts and people.`);
        return c.redirect(`/admin/teams/${encodeURIComponent(team.id)}`, 303);
      } catch (err) {
        if (err instanceof CommandError && err.fields) {
          c.status(422);
          return teamsPage(c, values, fieldErrors(err.fields));
        }
        return refused(c, err) ?? c.redirect('/admin/teams', 303);
      }
    })
    .get('/admin/teams/:id', async (c) => {
      const denied = adminOnly(c);
      if (denied) return denied;
      const team = await getTeam(db, c.req.param('id'));
      return team ? teamPage(c, team) : notFoundPage(c, `There is no team ${c.req.param('id')}.`);
    })
    .post('/admin/teams/:id', async (c) => {
      const denied = adminOnly(c);
      if (denied) return denied;
      const team = await getTeam(db, c.req.param('id'));
      if (!team) return notFoundPage(c, `There is no team ${c.req.param('id')}.`);
      const values = formValues((await c.req.parseBody()) as Record<string, unknown>);
      const parsed = teamInput.safeParse(values);
      if (!parsed.success) {
        c.status(422);
        return teamPage(c, team, { settings: values, settingsErrors: zodErrors(parsed.error) });
      }
      try {
        await changeTeam(db, actor(c), team.id, parsed.data, global);
      } catch (err) {
        if (err instanceof CommandError && err.fields) {
          c.status(422);
          return teamPage(c, team, { settings: values, settingsErrors: fieldErrors(err.fields) });
        }
        return refused(c, err) ?? c.redirect('/admin/teams', 303);
      }
      flash(c, 'ok', 'Rules saved.');
      return c.redirect(`/admin/teams/${encodeURIComponent(team.id)}`, 303);
    })
    .post('/admin/teams/:id/accounts', async (c) => {
      const denied = adminOnly(c);
      if (denied) return denied;
      const team = await getTeam(db, c.req.param('id'));
      if (!team) return notFoundPage(c, `There is no team ${c.req.param('id')}.`);
      const body = (await c.req.parseBody()) as Record<string, unknown>;
      const values = { label: String(body.label ?? ''), roleArn: String(body.roleArn ?? '') };
      const parsed = accountInput.safeParse(values);
      if (!parsed.success) {
        c.status(422);
        return teamPage(c, team, { accountErrors: zodErrors(parsed.error), accountValues: values });
      }
      try {
        const account = await addAccount(db, actor(c), team.id, parsed.data);
        flash(c, 'ok', `Added ${account.label}: create its role as this page shows, then test the connection.`);
        return c.redirect(`/accounts/${encodeURIComponent(account.id)}`, 303);
      } catch (err) {
        if (err instanceof CommandError && err.fields) {
          c.status(422);
          return teamPage(c, team, { accountErrors: fieldErrors(err.fields), accountValues: values });
        }
        return refused(c, err) ?? c.redirect('/admin/teams', 303);
      }
    })
    .post('/admin/teams/:id/members', async (c) => {
      const body = (await c.req.parseBody()) as Record<string, unknown>;
      try {
        await setMembership(db, actor(c), c.req.param('id'), String(body.userId ?? ''), true);
      } catch (err) {
        return refused(c, err) ?? c.redirect('/admin/teams', 303);
      }
      return c.redirect(`/admin/teams/${encodeURIComponent(c.req.param('id'))}`, 303);
    })
    .post('/admin/teams/:id/members/:userId/remove', async (c) => {
      try {
        await setMembership(db, actor(c), c.req.param('id'), c.req.param('userId'), false);
      } catch (err) {
        return refused(c, err) ?? c.redirect('/admin/teams', 303);
      }
      return c.redirect(`/admin/teams/${encodeURIComponent(c.req.param('id'))}`, 303);
    });
}
