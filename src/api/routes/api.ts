import { Hono } from 'hono';
import type { AppEnv } from '../auth.js';
import type { RouteDeps } from './deps.js';
import { apiErrorHandler, apiNotFound, methodNotAllowed } from '../apiErrors.js';
import { API_BASE, apiRoutes, subPath, type RouteDef } from '../apiRoutes.js';
import { buildOpenApiDocument } from '../openapi.js';
import { apiJobsApp } from './apiJobs.js';
import { apiLogsApp } from './apiLogs.js';
import { apiPeopleApp } from './apiPeople.js';
import { apiRevisionsApp } from './apiRevisions.js';

/**
 * The REST API under /api: the jobs and logs sub-apps and the OpenAPI
 * document. Routes come from the table in apiRoutes.ts (paths, methods and
 * input schemas), so /api/openapi.json describes exactly what is served.
 */
export function apiApp(deps: RouteDeps) {
  const { config } = deps;
  const R = apiRoutes(deps.specSchema, deps.changeSchema);
  let openApiDoc: string | undefined;

  const app = new Hono<AppEnv>();
  app.onError(apiErrorHandler);
  app.notFound(apiNotFound);

  // Answers are per caller and often secret-adjacent: no cache keeps them. (Basic-auth scripts get
  // their CSRF token from GET /api/me, not from every answer, where proxies and logs would copy it.)
  app.use(async (c, next) => {
    await next();
    c.header('Cache-Control', c.res.headers.get('Cache-Control') ?? 'no-store');
  });

  app.route('/', apiJobsApp(deps));
  app.route('/', apiLogsApp(deps));
  app.route('/', apiPeopleApp(deps));
  app.route('/', apiRevisionsApp(deps));

  app.on(R.getOpenApi.method, subPath(R.getOpenApi), (c) => {
    openApiDoc ??= JSON.stringify(buildOpenApiDocument(R as Record<string, RouteDef>, { publicBaseUrl: config.publicBaseUrl }));
    return c.body(openApiDoc, 200, { 'Content-Type': 'application/json' });
  });

  // A served path asked with a method it is not served with: 405 and its methods, not the 404 below.
  const methodsByPath = new Map<string, string[]>();
  for (const route of Object.values(R) as RouteDef[]) {
    if (route.path.startsWith(`${API_BASE}/`))
      methodsByPath.set(route.path, [...(methodsByPath.get(route.path) ?? []), route.method]);
  }
  for (const [path, methods] of methodsByPath) app.all(subPath({ path }), methodNotAllowed(methods));

  // notFound is not inherited when this app is mounted with route(); this catch-all is, and
  // keeps unknown /api paths from falling through to the HTML pages.
  app.all('*', (c) => apiNotFound(c));
  return app;
}
