import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { SECRET_RULES, weakSecretProblem } from './security/secretStrength.js';
import { parse as parseDotenv } from 'dotenv';
import { AWS_REGIONS, isInstanceType } from './domain/allowlists.js';
import { DEFAULT_INFRA_RETRY_HOURS } from './domain/failures.js';
import { terraformSlotsFor } from './domain/terraformCapacity.js';
import type { JobSpecPolicy } from './domain/jobSpec.js';
import { oidcConfigShape, oidcSettings, type OidcSettings } from './oidcConfig.js';
import { temporalConnectionSettings, temporalConnectionShape, type TemporalConnectionSettings } from './temporalConfig.js';

/**
 * Every setting the service reads, parsed once at start. A wrong value stops
 * the process with the variable's name and what was expected, because a
 * service that starts half-configured fails later in a place nobody looks.
 */

const DEFAULT_ADMIN_PASS = 'admin';
const DEFAULT_SECRET_KEY = 'dev-secret-key-change-me-dev-secret-key';
/**
 * Jobs running at once stay cached between their steps, and only idle environments
 * (succeeded, waiting for destroy or TTL) are evicted. Jobs queued for a Terraform slot
 * are running too: with 300 of them and a cache of 100, the worker evicted and replayed
 * workflows at nearly every step (workload 7 of the benchmark).
 */
export const DEFAULT_MAX_CACHED_WORKFLOWS = 500;
/** Where the web app serves the Temporal UI of TEMPORAL_UI_UPSTREAM, and the public path that UI must have. */
export const TEMPORAL_UI_PATH = '/temporal';
/** The project's root (where package.json is): the default workflow bundle cache lives under it. */
const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_WORKFLOW_BUNDLE_CACHE_DIR = path.join(
  PROJECT_ROOT,
  'node_modules',
  '.cache',
  'provisioning-service',
  'workflow-bundles',
);

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no', '']).transform((v) => v === 'true' || v === '1' || v === 'yes');

const port = z.coerce.number().int().min(0).max(65535);

const csvList = (itemCheck: (item: string) => string | null) =>
  z.string().transform((raw, ctx) => {
    const items = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const item of items) {
      const problem = itemCheck(item);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }
    return items;
  });

const httpUrl = z.string().refine((v) => /^https?:\/\/[^\s]+$/.test(v), 'must be an http(s) URL, e.g. http://localhost:8000');

/**
 * The SQLite file a sqlite: DATABASE_URL names, as written (resolved against
 * the working directory later): sqlite:./data/app.db and sqlite:/srv/app.db,
 * and the SQLAlchemy URL form the original service used, where the path
 * follows `sqlite:///` (sqlite:///./app.db is ./app.db, sqlite:////srv/app.db
 * is /srv/app.db). null when it names no file: SQLAlchemy's in-memory
 * `sqlite://`, a host (`sqlite://host/x`), a query string, or nothing at all.
 */
function sqliteFile(url: string): string | null {
  const rest = url.slice('sqlite:'.length);
  if (!rest.startsWith('//')) return rest || null;
  return /^\/\/\/([^?#]+)$/.exec(rest)?.[1] ?? null;
}

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  APP_ADMIN_USER: z.string().min(1).default('admin'),
  APP_ADMIN_PASS: z.string().min(1).default(DEFAULT_ADMIN_PASS),
  SECRET_KEY: z.string().min(16, 'must be at least 16 characters').default(DEFAULT_SECRET_KEY),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .refine(
      (v) => (v.startsWith('sqlite:') ? sqliteFile(v) !== null : /^postgres(ql)?:\/\/[^\s]+$/.test(v)),
      'must be sqlite:<path> (for example sqlite:./data/app.db, or as SQLAlchemy writes it sqlite:///./data/app.db, ' +
        'sqlite:////srv/data/app.db for an absolute path) or postgres://user:password@host:5432/database',
    )
    .optional(),
  PORT: port.default(8000),
  HOST: z.string().default('127.0.0.1'),
  /** Behind a reverse proxy: take the client address (rate limits, audit) from X-Forwarded-For's last entry. */
  TRUST_PROXY: bool.default(false),
  TEMPORAL_DEV_PORT: port.default(7233),
  TEMPORAL_DEV_UI_PORT: port.default(8233),
  PUBLIC_BASE_URL: httpUrl.optional(),
  TEMPORAL_ADDRESS: z
    .string()
    .refine((v) => /^[\w.-]+:\d{1,5}$/.test(v), 'must be host:port, e.g. temporal:7233')
    .optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('provisioning'),
  TEMPORAL_UI_URL: httpUrl.optional(),
  /**
   * A Temporal Web UI the web app serves to signed-in people at /temporal (a reverse proxy), so its
   * calls to /codec carry their session. The UI itself must serve under that path
   * (`--ui-public-path /temporal`, TEMPORAL_UI_PUBLIC_PATH=/temporal). `npm start` sets it to its
   * embedded UI; unset otherwise: no proxy.
   */
  TEMPORAL_UI_UPSTREAM: httpUrl
    .refine((v) => {
      try {
        const u = new URL(v);
        return u.pathname === '/' && !u.search && !u.hash && !u.username && !u.password;
      } catch {
        return false;
      }
    }, `must be the UI's origin only, e.g. http://127.0.0.1:8233 (it serves under /temporal itself)`)
    .transform((v) => new URL(v).origin)
    .optional(),
  TEMPORAL_CLI_PATH: z.string().optional(),
  EMAIL_PROVIDER: z.enum(['outbox', 'ses', 'smtp']).default('outbox'),
  EMAIL_FROM: z.string().default('Provisioning <provisioning@localhost>'),
  SES_REGION: z.string().optional(),
  SES_FROM_EMAIL: z.string().email().optional(),
  SES_CONFIGURATION_SET: z.string().optional(),
  SMTP_HOST: z.string().optional(),
  SMTP_PORT: port.optional(),
  SMTP_USER: z.string().optional(),
  SMTP_PASS: z.string().optional(),
  SMTP_SECURE: z.enum(['tls', 'starttls', 'none']).default('starttls'),
  ALLOWED_REGIONS: csvList((r) => (AWS_REGIONS.includes(r) ? null : `"${r}" is not an AWS region`)).default([
    'us-east-1',
    'us-east-2',
    'us-west-2',
    'eu-west-1',
    'eu-central-1',
  ]),
  ALLOWED_INSTANCE_TYPES: csvList((t) => (isInstanceType(t) ? null : `"${t}" is not an EC2 instance type`)).default([
    't3.micro',
    't3.small',
    't3.medium',
    't3.large',
  ]),
  ALLOWED_ACCOUNT_IDS: csvList((a) => (/^\d{12}$/.test(a) ? null : `"${a}" is not a 12-digit AWS account id`)).default([]),
  ALLOW_ACCESS_KEY_AUTH: bool.default(false),
  /** Jobs run only in team accounts (server-made external IDs); typed role ARNs are refused. */
  TEAM_ACCOUNTS_ONLY: bool.default(false),
  /** Production without TEAM_ACCOUNTS_ONLY or ALLOWED_ACCOUNT_IDS: allow any account that trusts the worker, on purpose. */
  ALLOW_ANY_ACCOUNT: bool.default(false),
  TERRAFORM_BINARY: z.string().min(1).default('terraform'),
  TERRAFORM_MODULE_DIR: z.string().min(1).default('./terraform'),
  JOBS_WORKDIR: z.string().optional(),
  TERRAFORM_EXTRA_VARS_JSON: z
    .string()
    .transform((raw, ctx) => {
      try {
        const v: unknown = JSON.parse(raw);
        if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
      } catch {
        /* reported below */
      }
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of Terraform variables' });
      return z.NEVER;
    })
    .optional(),
  /**
   * Terraform's provider cache shared by every job's init (a lock keeps
   * concurrent inits apart); unset, each workspace downloads its providers.
   */
  TF_PLUGIN_CACHE_DIR: z.string().optional(),
  /** S3 bucket for job state; unset: each job's state stays in its workspace (local backend). */
  TF_STATE_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')
    .optional(),
  TF_STATE_REGION: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region, e.g. us-east-1')
    .optional(),
  TF_STATE_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._/-]*$/, 'letters, digits, . _ - and / only')
    .default('provisioning/jobs'),
  /** A DynamoDB table for state locks; unset: S3's native lock file (use_lockfile). */
  TF_STATE_LOCK_TABLE: z
    .string()
    .regex(/^[A-Za-z0-9._-]{3,255}$/, 'must be a DynamoDB table name')
    .optional(),
  /** A role the S3 backend assumes to reach the bucket (state in another account). */
  TF_STATE_ROLE_ARN: z
    .string()
    .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, 'must be an IAM role ARN')
    .optional(),
  /** An S3-compatible endpoint for the state bucket (MinIO; moto in tests). */
  TF_STATE_ENDPOINT: httpUrl.optional(),
  /**
   * An S3 bucket (the operator's) for each job's compose file and users CSV, which the instance
   * fetches at boot instead of carrying them in its 16 KB of user data; unset: embedded.
   */
  ARTIFACTS_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')
    .optional(),
  /** Each job's files are <prefix>/<jobId>/docker-compose.yml and users.csv. */
  ARTIFACTS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._/-]*$/, 'letters, digits, . _ - and / only')
    .refine(
      (v) => /^(?:[A-Za-z0-9_-][A-Za-z0-9._-]*(?:\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*)?$/.test(v.replace(/^\/+|\/+$/g, '')),
      'names between the slashes may not be empty or start with .',
    )
    .default('provisioning/artifacts'),
  ARTIFACTS_REGION: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region, e.g. us-east-1')
    .optional(),
  /** An S3-compatible endpoint for the artifacts bucket (MinIO; moto in tests). */
  ARTIFACTS_ENDPOINT: httpUrl.optional(),
  TERRAFORM_KILL_GRACE_SECONDS: z.coerce.number().positive().default(20),
  APPROVAL_TIMEOUT_HOURS: z.coerce.number().positive().default(72),
  /**
   * How long a step keeps retrying infrastructure faults (a worker lost
   * mid-step, the database out of reach) before the job fails; errors in the
   * job itself have their own small budget of attempts.
   */
  STEP_INFRA_RETRY_HOURS: z.coerce
    .number()
    .min(0.005, 'must be at least 0.005 (18 s)')
    .max(720)
    .default(DEFAULT_INFRA_RETRY_HOURS),
  /**
   * How often every live environment is checked for drift (a Temporal Schedule: `6h`, `30m`, `90s`;
   * `0`: never). Each check is a refresh-only plan, DRIFT_CHECK_CONCURRENCY at a time.
   */
  DRIFT_CHECK_INTERVAL: z
    .string()
    .trim()
    .regex(/^(0|\d{1,6}(s|m|h|d))$/, 'must be 0 (off) or a number with s, m, h or d, e.g. 6h')
    .refine((v) => v === '0' || durationSeconds(v) >= 60, 'must be at least 60s, or 0 (off)')
    .default('6h'),
  DRIFT_CHECK_CONCURRENCY: z.coerce.number().int().min(1).max(32).default(2),
  /** Minutes a browser session may go unused before it ends (0: only its 12-hour lifetime ends it). */
  SESSION_IDLE_MINUTES: z.coerce.number().int().min(0).max(10_080).default(120),
  /** Live log streams one person or token may hold open at once (tabs, scripts); past it: 503 + Retry-After. */
  LOG_STREAMS_PER_PRINCIPAL: z.coerce.number().int().min(1).max(10_000).default(10),
  /** Live log streams one web process serves at once, everyone together. */
  LOG_STREAMS_TOTAL: z.coerce.number().int().min(1).max(100_000).default(1000),
  /** How often the web process compares active jobs with their workflows (0: never). */
  RECONCILE_INTERVAL_SECONDS: z.coerce.number().min(0).max(3600).default(20),
  /** The TCP probe of published ports, extra evidence after the instance reported its containers running. */
  READINESS_PROBE: z.enum(['tcp', 'off']).default('tcp'),
  /** Where the ready step reads what the instance says: EC2's serial console, or the sandbox module's console file. */
  INSTANCE_CONSOLE: z.enum(['ec2', 'sandbox']).default('ec2'),
  READINESS_POLL_SECONDS: z.coerce.number().positive().max(60).default(5),
  /** Off only for the sandbox module, whose instances are not real EC2 instances. */
  READINESS_STATUS_CHECKS: bool.default(true),
  WORKER_SHUTDOWN_GRACE_SECONDS: z.coerce.number().nonnegative().default(30),
  /**
   * Workflows the worker keeps in memory between their tasks. Jobs stay open
   * until destroyed, so without a bound the cache grows with every live
   * environment; an evicted workflow replays its history when next touched.
   */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce
    .number()
    .int()
    .refine((n) => n === 0 || n >= 2, 'must be 0 (no cache) or at least 2')
    .default(DEFAULT_MAX_CACHED_WORKFLOWS),
  /**
   * Terraform runs one worker process runs at once (its own slots, apart from the quick steps,
   * which never wait behind them). Default: sized from the memory the worker may use.
   */
  TERRAFORM_MAX_CONCURRENT: z.coerce
    .number()
    .int()
    .min(1)
    .max(256)
    .default(() => terraformSlotsFor(availableMemoryBytes())),
  /** Where the workflow bundle is cached (built on first start, or by `npm run bundle-workflows`). */
  WORKFLOW_BUNDLE_CACHE_DIR: z.string().min(1).optional(),
  /** Port of the worker's Prometheus endpoint for the Temporal SDK's metrics; unset or 0: off. */
  WORKER_METRICS_PORT: port.optional(),
  /** Where the worker's endpoint listens: loopback unless a scraper elsewhere needs it (then METRICS_TOKEN is required). */
  WORKER_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** A bearer token that opens GET /metrics (and the worker's) to a scraper; unset: /metrics needs a sign-in or API token. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  READINESS_TIMEOUT_SECONDS: z.coerce.number().int().positive().default(600),
  PAYLOAD_ENCRYPTION_KEYS: z.string().optional(),
  API_TOKENS: z.string().optional(),
  ...oidcConfigShape,
  ...temporalConnectionShape,
});

export type RawConfig = z.infer<typeof configSchema>;

export interface Config extends RawConfig {
  dataDir: string;
  /** What createDb opens: the SQLite file's path, or the postgres:// URL as given. */
  databasePath: string;
  jobsWorkdir: string;
  terraformModuleDir: string;
  /** TF_PLUGIN_CACHE_DIR resolved, when set. */
  pluginCacheDir?: string;
  /** WORKFLOW_BUNDLE_CACHE_DIR resolved, or the default under node_modules/.cache. */
  workflowBundleCacheDir: string;
  publicBaseUrl: string;
  /** TEMPORAL_UI_URL, or <publicBaseUrl>/temporal when the web app proxies a UI (TEMPORAL_UI_UPSTREAM). */
  temporalUiUrl: string;
  /** True when the app must start (and own) a Temporal dev server. */
  embeddedTemporal: boolean;
  temporalAddress: string;
  /** TLS, mTLS and API key for a Temporal cluster (TEMPORAL_TLS_*, TEMPORAL_API_KEY), files read and checked. */
  temporalConnection: TemporalConnectionSettings;
  /** Sign-in through the organisation's identity provider; null: the local admin account only. */
  oidc: OidcSettings | null;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The other secrets of the environment, each held to its rule in production. */
function productionSecretProblems(raw: z.output<typeof configSchema>): string[] {
  const out: string[] = [];
  const check = (name: string, value: string, rule: (typeof SECRET_RULES)[keyof typeof SECRET_RULES]) => {
    const weak = weakSecretProblem(name, value, rule);
    if (weak) out.push(weak);
  };
  (raw.API_TOKENS ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .forEach((entry, i) => {
      const sep = entry.indexOf(':');
      check(`API_TOKENS (entry ${i + 1})`, sep > 0 ? entry.slice(sep + 1) : entry, SECRET_RULES.API_TOKEN);
    });
  (raw.PAYLOAD_ENCRYPTION_KEYS ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .forEach((entry) => {
      const sep = entry.indexOf(':');
      check(
        `PAYLOAD_ENCRYPTION_KEYS (key "${entry.slice(0, Math.max(sep, 0))}")`,
        entry.slice(sep + 1),
        SECRET_RULES.PAYLOAD_KEY,
      );
    });
  if (raw.OIDC_CLIENT_SECRET) check('OIDC_CLIENT_SECRET', raw.OIDC_CLIENT_SECRET, SECRET_RULES.OIDC_CLIENT_SECRET);
  // A database password left as the example's.
  if (raw.DATABASE_URL && /change[-_]?me/i.test(raw.DATABASE_URL)) {
    out.push("DATABASE_URL: its password is the example's placeholder; set the database password you chose");
  }
  return out;
}

/** Reads `.env` from the working directory when present; real env wins. */
export function readEnv(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Record<string, string | undefined> {
  const file = path.join(cwd, '.env');
  const fromFile = fs.existsSync(file) ? parseDotenv(fs.readFileSync(file)) : {};
  return { ...fromFile, ...env };
}

export function parseConfig(env: Record<string, string | undefined>, cwd = process.cwd()): Config {
  // An empty variable means "not set", as it does in most shells' .env habits.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = configSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = String(i.path[0] ?? '?');
        const value = cleaned[name];
        const expected = i.code === 'invalid_value' && 'values' in i ? `one of ${(i.values as unknown[]).join(', ')}` : i.message;
        return value === undefined ? `${name}: ${expected}` : `${name}: ${JSON.stringify(value)} is invalid: ${expected}`;
      }),
    );
  }
  const raw = parsed.data;
  const problems: string[] = [];
  if (raw.NODE_ENV === 'production') {
    if (raw.APP_ADMIN_PASS === DEFAULT_ADMIN_PASS) problems.push('APP_ADMIN_PASS: the default password is refused in production');
    else if (raw.LOCAL_LOGIN) {
      const weak = weakSecretProblem('APP_ADMIN_PASS', raw.APP_ADMIN_PASS, SECRET_RULES.APP_ADMIN_PASS);
      if (weak) problems.push(weak);
    }
    if (raw.SECRET_KEY === DEFAULT_SECRET_KEY) problems.push('SECRET_KEY: the development key is refused in production');
    else {
      // Sessions, CSRF tokens and (without PAYLOAD_ENCRYPTION_KEYS) the payload key all derive from it.
      const weak = weakSecretProblem('SECRET_KEY', raw.SECRET_KEY, SECRET_RULES.SECRET_KEY);
      if (weak) problems.push(weak);
    }
    problems.push(...productionSecretProblems(raw));
    if (!raw.TEAM_ACCOUNTS_ONLY && raw.ALLOWED_ACCOUNT_IDS.length === 0 && !raw.ALLOW_ANY_ACCOUNT) {
      problems.push(
        'TEAM_ACCOUNTS_ONLY: production needs an account restriction: TEAM_ACCOUNTS_ONLY=true (jobs run in team accounts), ' +
          'or ALLOWED_ACCOUNT_IDS, or ALLOW_ANY_ACCOUNT=true to allow any account that trusts the worker on purpose',
      );
    }
  }
  if (raw.EMAIL_PROVIDER === 'ses' && !raw.SES_FROM_EMAIL) problems.push('SES_FROM_EMAIL: required when EMAIL_PROVIDER=ses');
  if (raw.TF_STATE_BUCKET && !raw.TF_STATE_REGION) problems.push('TF_STATE_REGION: required when TF_STATE_BUCKET is set');
  if (raw.ARTIFACTS_BUCKET && !raw.ARTIFACTS_REGION) problems.push('ARTIFACTS_REGION: required when ARTIFACTS_BUCKET is set');
  if (raw.EMAIL_PROVIDER === 'smtp' && !raw.SMTP_HOST) problems.push('SMTP_HOST: required when EMAIL_PROVIDER=smtp');
  if (raw.WORKER_METRICS_PORT && !isLoopbackHost(raw.WORKER_METRICS_HOST) && !raw.METRICS_TOKEN) {
    problems.push(
      `METRICS_TOKEN: required when the worker's /metrics listens beyond this machine (WORKER_METRICS_HOST=${raw.WORKER_METRICS_HOST})`,
    );
  }
  const oidc = oidcSettings(raw, problems);
  const temporalConnection = temporalConnectionSettings(raw, cwd, problems);
  if (problems.length) throw new ConfigError(problems);

  const dataDir = path.resolve(cwd, raw.DATA_DIR);
  const databasePath = !raw.DATABASE_URL
    ? path.join(dataDir, 'app.db')
    : raw.DATABASE_URL.startsWith('sqlite:')
      ? path.resolve(cwd, sqliteFile(raw.DATABASE_URL) as string)
      : raw.DATABASE_URL;
  const embeddedTemporal = !raw.TEMPORAL_ADDRESS;
  const publicBaseUrl = (raw.PUBLIC_BASE_URL ?? `http://localhost:${raw.PORT}`).replace(/\/$/, '');
  return {
    ...raw,
    dataDir,
    databasePath,
    jobsWorkdir: path.resolve(cwd, raw.JOBS_WORKDIR ?? path.join(raw.DATA_DIR, 'jobs')),
    terraformModuleDir: path.resolve(cwd, raw.TERRAFORM_MODULE_DIR),
    pluginCacheDir: raw.TF_PLUGIN_CACHE_DIR ? path.resolve(cwd, raw.TF_PLUGIN_CACHE_DIR) : undefined,
    workflowBundleCacheDir: raw.WORKFLOW_BUNDLE_CACHE_DIR
      ? path.resolve(cwd, raw.WORKFLOW_BUNDLE_CACHE_DIR)
      : DEFAULT_WORKFLOW_BUNDLE_CACHE_DIR,
    publicBaseUrl,
    temporalUiUrl: (
      raw.TEMPORAL_UI_URL ??
      (raw.TEMPORAL_UI_UPSTREAM ? `${publicBaseUrl}${TEMPORAL_UI_PATH}` : `http://localhost:${raw.TEMPORAL_DEV_UI_PORT}`)
    ).replace(/\/$/, ''),
    embeddedTemporal,
    temporalAddress: raw.TEMPORAL_ADDRESS ?? `127.0.0.1:${raw.TEMPORAL_DEV_PORT}`,
    temporalConnection,
    oidc,
  };
}

/** For process entry points: parse or print the problems and exit non-zero. */
export function loadConfigOrExit(): Config {
  try {
    return parseConfig(readEnv());
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** `6h` → 21600; `0` → 0. */
export function durationSeconds(value: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(value);
  if (!m) return 0;
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

/**
 * The memory this process may use: the machine's, or its container's limit when lower
 * (os.totalmem() sees the host's memory inside a container; an unlimited cgroup reports 2^64).
 */
export function availableMemoryBytes(): number {
  const limit = process.constrainedMemory?.() ?? 0;
  const total = os.totalmem();
  return limit > 0 && limit < total ? limit : total;
}

/** Only this machine can reach a listener on these. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The lists a job spec is checked against, the same for the API, the form and the worker. */
export function jobSpecPolicyOf(config: Config): JobSpecPolicy {
  return {
    allowedRegions: config.ALLOWED_REGIONS,
    allowedInstanceTypes: config.ALLOWED_INSTANCE_TYPES,
    allowAccessKeys: config.ALLOW_ACCESS_KEY_AUTH,
    allowedAccountIds: config.ALLOWED_ACCOUNT_IDS,
    // The files travel through S3: only the users CSV's own limit applies, not user data's 16 KB.
    artifactsInS3: Boolean(config.ARTIFACTS_BUCKET),
  };
}
