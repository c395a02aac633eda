import { Hono } from 'hono';
import { jsxRenderer } from 'hono/jsx-renderer';
import { bodyLimit } from 'hono/body-limit';
import type { Client } from '@temporalio/client';
import { jobSpecPolicyOf, TEMPORAL_UI_PATH, type Config } from '../config.js';
import type { Db } from '../db/database.js';
import { Authenticator, requireAuth, requireCsrf, type AppEnv } from './auth.js';
import { healthApp } from './health.js';
import { securityHeaders } from './securityHeaders.js';
import { staticApp } from './static.js';
import { Layout } from './views/Layout.js';
import { sessionApp } from './session.js';
import type { CommandDeps } from './jobCommands.js';
import { createSpecChangeSchema } from '../domain/specChange.js';
import { createJobSpecSchema } from '../domain/jobSpec.js';
import { apiApp } from './routes/api.js';
import { dashboardPagesApp } from './routes/dashboardPages.js';
import { jobFormPagesApp } from './routes/jobFormPages.js';
import { jobPagesApp } from './routes/jobPages.js';
import { jobChangePagesApp } from './routes/jobChangePages.js';
import { outboxPagesApp } from './routes/outboxPages.js';
import { auditPagesApp } from './routes/auditPages.js';
import { peoplePagesApp } from './routes/peoplePages.js';
import { teamPagesApp } from './routes/teamPages.js';
import type { RouteDeps } from './routes/deps.js';
import { requestLog } from './requestLog.js';
import { metricsApp, metricsTokenShortcut } from './metricsRoute.js';
import { codecApp, codecCors } from './codecEndpoint.js';
import { MAX_BODY_BYTES, formContentTypes, tooLarge } from './inputGuards.js';
import { FixedWindowLimiter, JOB_CREATES, LOGIN_FAILURES, jobCreationLimit, type RateRule } from './rateLimit.js';
import { credentialThrottle, SignInThrottle } from './signInThrottle.js';
import { oidcSignIn } from './oidcSignIn.js';
import { EncryptionCodec, parseEncryptionKeys } from '../temporal/codec.js';
import { temporalUiProxy, withoutBasicChallenge } from './temporalUiProxy.js';

export interface AppDeps {
  db: Db;
  temporal: Client;
  config: Config;
  /** Overrides of the default rate limits (failed sign-ins 5 per 15 min, job creations 30 per min per client). */
  rateLimits?: { loginFailures?: RateRule; jobCreates?: RateRule };
}

declare module 'hono' {
  interface ContextRenderer {
    // biome-ignore lint/style/useShorthandFunctionType: a call signature in an interface, so it merges with Hono's own declaration
    (content: string | Promise<string>, props: { title: string }): Response | Promise<Response>;
  }
}

/** The web app: one sub-app per resource under one layout and one set of guards. */
export function createApp(deps: AppDeps) {
  const { config } = deps;
  const auth = new Authenticator(
    {
      adminUser: config.APP_ADMIN_USER,
      adminPass: config.APP_ADMIN_PASS,
      secretKey: config.SECRET_KEY,
      apiTokens: (config.API_TOKENS ?? '').split(',').map((t) => t.trim()),
      localLogin: config.LOCAL_LOGIN,
      sessionIdleMinutes: config.SESSION_IDLE_MINUTES,
      secureCookies: config.publicBaseUrl.startsWith('https://'),
    },
    deps.db,
  );
  const commands: CommandDeps = {
    db: deps.db,
    temporal: deps.temporal,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    approvalTimeoutMs: config.APPROVAL_TIMEOUT_HOURS * 3_600_000,
    infraRetryBudgetMs: config.STEP_INFRA_RETRY_HOURS * 3_600_000,
    teamAccountsOnly: config.TEAM_ACCOUNTS_ONLY,
    publicBaseUrl: config.publicBaseUrl,
  };
  const routeDeps: RouteDeps = {
    ...deps,
    auth,
    commands,
    specSchema: createJobSpecSchema(jobSpecPolicyOf(config)),
    changeSchema: createSpecChangeSchema({ allowedInstanceTypes: config.ALLOWED_INSTANCE_TYPES }),
  };

  const trust = { trustProxy: config.TRUST_PROXY };
  const signInThrottle = new SignInThrottle(new FixedWindowLimiter(deps.rateLimits?.loginFailures ?? LOGIN_FAILURES));
  const oidcRoutes = config.oidc
    ? oidcSignIn({
        settings: config.oidc,
        db: deps.db,
        auth,
        secretKey: config.SECRET_KEY,
        publicBaseUrl: config.publicBaseUrl,
        secureCookies: config.publicBaseUrl.startsWith('https://'),
      })
    : null;
  const jobLimiter = new FixedWindowLimiter(deps.rateLimits?.jobCreates ?? JOB_CREATES);

  const app = new Hono<AppEnv>();
  app.use(requestLog());
  app.use(securityHeaders(config.oidc ? [config.oidc.issuerUrl.origin] : [], { trustProxy: config.TRUST_PROXY }));
  // Before authentication: Temporal UI's preflights carry no credentials.
  app.use('/codec/*', codecCors(config.temporalUiUrl));
  app.use(bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge }));
  app.route('/health', healthApp(deps));
  app.route('/static', staticApp());
  // Browsers ask for /favicon.ico on pages without a <link rel="icon"> (the Temporal UI proxy's, JSON answers opened in a tab).
  app.get('/favicon.ico', (c) => c.redirect('/static/favicon.svg', 301));
  app.use('/metrics', metricsTokenShortcut({ db: deps.db, metricsToken: config.METRICS_TOKEN }));
  if (config.TEMPORAL_UI_UPSTREAM) app.use(`${TEMPORAL_UI_PATH}/*`, withoutBasicChallenge());
  app.use(credentialThrottle(signInThrottle, auth, trust));
  app.use(requireAuth(auth));
  // What a signed-in person sees is theirs: no page of it is kept by a browser or a proxy.
  app.use(async (c, next) => {
    await next();
    if ((c.res.headers.get('Content-Type') ?? '').startsWith('text/html') && !c.res.headers.has('Cache-Control')) {
      c.res.headers.set('Cache-Control', 'no-store');
    }
  });
  // Read-only, JSON-only and Origin-checked; mounted before the form CSRF check, which Temporal UI cannot pass.
  app.route(
    '/codec',
    codecApp({
      codec: new EncryptionCodec(parseEncryptionKeys(config.PAYLOAD_ENCRYPTION_KEYS, config.SECRET_KEY)),
      temporalUiUrl: config.temporalUiUrl,
      publicBaseUrl: config.publicBaseUrl,
    }),
  );
  if (config.TEMPORAL_UI_UPSTREAM) {
    // The Temporal UI on our origin for signed-in people; before the form checks, with an Origin check of its own.
    // (`/temporal/*` matches `/temporal` itself too.)
    app.all(
      `${TEMPORAL_UI_PATH}/*`,
      temporalUiProxy({ upstream: config.TEMPORAL_UI_UPSTREAM, publicBaseUrl: config.publicBaseUrl }),
    );
  }
  app.use(formContentTypes());
  const ownOrigins = () => [new URL(config.publicBaseUrl).origin];
  app.use(requireCsrf(auth, ownOrigins));
  app.use(
    jsxRenderer(({ children, title }, c) => (
      <Layout
        title={title}
        user={c.get('principal')?.user}
        role={c.get('principal')?.role}
        csrfToken={c.get('csrfToken')}
        nonce={c.get('nonce')}
        temporalUiUrl={config.temporalUiUrl}
      >
        {children}
      </Layout>
    )),
  );
  app.on(
    'POST',
    ['/jobs', '/api/jobs'],
    jobCreationLimit(jobLimiter, trust, (c, message) => {
      c.status(429);
      return c.render(
        <section class="card narrow">
          <h1>Too many new jobs</h1>
          <p class="error" role="alert">
            {message}
          </p>
        </section>,
        { title: 'Too many new jobs' },
      );
    }),
  );
  app.route(
    '/',
    sessionApp(auth, {
      throttle: signInThrottle,
      ...trust,
      providerLabel: config.oidc?.providerName,
      signOutRedirect: oidcRoutes?.signOutRedirect,
      allowedOrigins: ownOrigins,
    }),
  );
  if (oidcRoutes) app.route('/auth/oidc', oidcRoutes.app);
  app.route('/metrics', metricsApp({ db: deps.db }));
  app.route('/api', apiApp(routeDeps));
  // Before the job pages: /jobs/rows and /jobs/new would otherwise match /jobs/:id.
  app.route('/', dashboardPagesApp(routeDeps));
  app.route('/jobs', jobFormPagesApp(routeDeps));
  app.route('/jobs', jobChangePagesApp(routeDeps));
  app.route('/jobs', jobPagesApp(routeDeps));
  app.route('/outbox', outboxPagesApp(routeDeps));
  app.route('/audit', auditPagesApp(routeDeps));
  app.route('/', peoplePagesApp(routeDeps));
  app.route('/', teamPagesApp(routeDeps));
  return app;
}

export type App = ReturnType<typeof createApp>;
