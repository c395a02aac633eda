import { describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { ConfigError, configSchema, parseConfig } from '../../src/config.js';
import { ROOT } from '../support/processes.js';
import { problemsOf } from '../support/configProblems.js';

const STRONG_KEY = 'q4V8mZt2Lr9XwN1bKc7Hs3Pj6Df0Ga5YuE+/Tn8o';
const STRONG_PASS = 'tr4il-Mx9q-Vb2z';

describe('configuration', () => {
  it('has working defaults for a local start', () => {
    const c = parseConfig({}, '/srv/app');
    expect(c.PORT).toBe(8000);
    expect(c.databasePath).toBe('/srv/app/data/app.db');
    expect(c.jobsWorkdir).toBe('/srv/app/data/jobs');
    expect(c.embeddedTemporal).toBe(true);
    expect(c.temporalAddress).toBe('127.0.0.1:7233');
    expect(c.temporalUiUrl).toBe('http://localhost:8233');
    expect(c.EMAIL_PROVIDER).toBe('outbox');
  });

  it('names the variable and the bad value', () => {
    expect(() => parseConfig({ ALLOWED_INSTANCE_TYPES: 't3.micro,t3.mega' })).toThrow(
      /ALLOWED_INSTANCE_TYPES: "t3.micro,t3.mega" is invalid: "t3.mega" is not an EC2 instance type/,
    );
    expect(() => parseConfig({ PORT: 'eighty' })).toThrow(/PORT: "eighty" is invalid/);
    expect(() => parseConfig({ EMAIL_PROVIDER: 'pigeon' })).toThrow(
      /EMAIL_PROVIDER: "pigeon" is invalid: one of outbox, ses, smtp/,
    );
  });

  it('refuses a missing value the chosen options need', () => {
    expect(() => parseConfig({ EMAIL_PROVIDER: 'smtp' })).toThrow(/SMTP_HOST: required when EMAIL_PROVIDER=smtp/);
  });

  it('refuses default secrets in production', () => {
    try {
      parseConfig({ NODE_ENV: 'production' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems.join('\n')).toMatch(/APP_ADMIN_PASS/);
      expect((err as ConfigError).problems.join('\n')).toMatch(/SECRET_KEY/);
    }
  });

  it("refuses the production example file's placeholders and keys too easy to guess", () => {
    const example = parseDotenv(fs.readFileSync(path.join(ROOT, '.env.production.example')));
    const problems = problemsOf({ ...example, NODE_ENV: 'production', TEAM_ACCOUNTS_ONLY: 'true' });
    for (const name of ['APP_ADMIN_PASS', 'SECRET_KEY']) {
      expect(problems, name).toContainEqual(expect.stringMatching(new RegExp(`^${name}: a placeholder from an example`)));
    }
    const base = { NODE_ENV: 'production', TEAM_ACCOUNTS_ONLY: 'true', APP_ADMIN_PASS: STRONG_PASS, SECRET_KEY: STRONG_KEY };
    expect(problemsOf(base)).toEqual([]);
    // Long enough, but one character again and again, or a short pattern repeated.
    expect(problemsOf({ ...base, SECRET_KEY: 'k'.repeat(40) })).toEqual([
      expect.stringMatching(/^SECRET_KEY: too easy to guess \(about 0 bits/),
    ]);
    expect(problemsOf({ ...base, SECRET_KEY: 'abcd'.repeat(12) })).toEqual([
      expect.stringMatching(/^SECRET_KEY: too easy to guess/),
    ]);
    expect(problemsOf({ ...base, APP_ADMIN_PASS: 'aaaaaaaaaaaaaaaa' })).toEqual([
      expect.stringMatching(/^APP_ADMIN_PASS: too easy/),
    ]);
    expect(problemsOf({ ...base, API_TOKENS: 'ci:short-token' })).toEqual([expect.stringMatching(/^API_TOKENS \(entry 1\)/)]);
    expect(problemsOf({ ...base, PAYLOAD_ENCRYPTION_KEYS: `k1:${'A'.repeat(43)}=` })).toEqual([
      expect.stringMatching(/^PAYLOAD_ENCRYPTION_KEYS \(key "k1"\): too easy to guess/),
    ]);
    expect(problemsOf({ ...base, DATABASE_URL: 'postgres://temporal:change-me@postgres:5432/provisioning' })).toEqual([
      expect.stringMatching(/^DATABASE_URL: its password is the example's placeholder/),
    ]);
    // Random ones pass, and a laptop is held to none of this.
    expect(
      problemsOf({
        ...base,
        API_TOKENS: `ci:${crypto.randomBytes(32).toString('base64url')}`,
        PAYLOAD_ENCRYPTION_KEYS: `k1:${crypto.randomBytes(32).toString('base64')}`,
      }),
    ).toEqual([]);
    expect(problemsOf({ SECRET_KEY: 'k'.repeat(40) })).toEqual([]);
  });

  it('refuses to start in production without an account restriction, unless any account is allowed on purpose', () => {
    const secrets = { NODE_ENV: 'production', APP_ADMIN_PASS: STRONG_PASS, SECRET_KEY: STRONG_KEY };
    const problems = (extra: Record<string, string>) => {
      try {
        parseConfig({ ...secrets, ...extra });
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    expect(problems({})).toEqual([
      expect.stringMatching(/^TEAM_ACCOUNTS_ONLY: production needs an account restriction.*ALLOW_ANY_ACCOUNT/),
    ]);
    expect(problems({ TEAM_ACCOUNTS_ONLY: 'true' })).toEqual([]);
    expect(problems({ ALLOWED_ACCOUNT_IDS: '123456789012' })).toEqual([]);
    expect(problems({ ALLOW_ANY_ACCOUNT: 'true' })).toEqual([]);
    // A laptop needs none.
    expect(() => parseConfig({})).not.toThrow();
  });

  it("keeps the worker's metrics on loopback, and wants METRICS_TOKEN to open them wider", () => {
    const base = { WORKER_METRICS_PORT: '9464' };
    expect(parseConfig(base, ROOT).WORKER_METRICS_HOST).toBe('127.0.0.1');
    expect(problemsOf({ ...base, WORKER_METRICS_HOST: '0.0.0.0' })).toEqual([
      "METRICS_TOKEN: required when the worker's /metrics listens beyond this machine (WORKER_METRICS_HOST=0.0.0.0)",
    ]);
    expect(problemsOf({ ...base, WORKER_METRICS_HOST: '0.0.0.0', METRICS_TOKEN: 'scrape-token-0123456789' })).toEqual([]);
    expect(problemsOf({ ...base, WORKER_METRICS_HOST: '127.0.0.2' })).toEqual([]);
    expect(problemsOf({ ...base, WORKER_METRICS_HOST: '::1' })).toEqual([]);
  });

  it('reads DATABASE_URL as sqlite:<path> and in the SQLAlchemy form sqlite:///<path>', () => {
    const dbPath = (url: string) => parseConfig({ DATABASE_URL: url }, '/srv/app').databasePath;
    // As written: relative to the working directory, or absolute.
    expect(dbPath('sqlite:./x.db')).toBe('/srv/app/x.db');
    expect(dbPath('sqlite:data/app.db')).toBe('/srv/app/data/app.db');
    expect(dbPath('sqlite:/var/lib/prov/app.db')).toBe('/var/lib/prov/app.db');
    // SQLAlchemy's form (the original service's): three slashes, then the path; a fourth makes it absolute.
    expect(dbPath('sqlite:///./app.db')).toBe('/srv/app/app.db');
    expect(dbPath('sqlite:///app.db')).toBe('/srv/app/app.db');
    expect(dbPath('sqlite:///data/app.db')).toBe('/srv/app/data/app.db');
    expect(dbPath('sqlite:////abs/path.db')).toBe('/abs/path.db');
    // Postgres URLs pass through as given.
    expect(dbPath('postgres://u:p@db:5432/prov')).toBe('postgres://u:p@db:5432/prov');

    // Forms that name no file are refused, saying which forms work.
    for (const url of ['sqlite:', 'sqlite://', 'sqlite:///', 'sqlite://host/app.db', 'sqlite:///app.db?mode=ro', 'mysql://x/y']) {
      expect(() => parseConfig({ DATABASE_URL: url }), url).toThrow(
        `DATABASE_URL: ${JSON.stringify(url)} is invalid: must be sqlite:<path> (for example sqlite:./data/app.db, ` +
          'or as SQLAlchemy writes it sqlite:///./data/app.db, sqlite:////srv/data/app.db for an absolute path) or postgres://',
      );
    }
  });

  it('reads the artifacts bucket settings, and wants the region with the bucket', () => {
    expect(parseConfig({}).ARTIFACTS_BUCKET).toBeUndefined();
    expect(parseConfig({}).ARTIFACTS_PREFIX).toBe('provisioning/artifacts');
    expect(() => parseConfig({ ARTIFACTS_BUCKET: 'prov-artifacts' })).toThrow(
      /ARTIFACTS_REGION: required when ARTIFACTS_BUCKET is set/,
    );
    const c = parseConfig({
      ARTIFACTS_BUCKET: 'prov-artifacts',
      ARTIFACTS_REGION: 'eu-west-1',
      ARTIFACTS_PREFIX: 'envs/artifacts',
      ARTIFACTS_ENDPOINT: 'http://127.0.0.1:9000',
    });
    expect([c.ARTIFACTS_BUCKET, c.ARTIFACTS_REGION, c.ARTIFACTS_PREFIX, c.ARTIFACTS_ENDPOINT]).toEqual([
      'prov-artifacts',
      'eu-west-1',
      'envs/artifacts',
      'http://127.0.0.1:9000',
    ]);
    expect(() => parseConfig({ ARTIFACTS_BUCKET: 'Prov_Artifacts', ARTIFACTS_REGION: 'eu-west-1' })).toThrow(
      /ARTIFACTS_BUCKET: "Prov_Artifacts" is invalid: must be an S3 bucket name/,
    );
    for (const prefix of ['a b', 'envs/../other', 'envs//x', '.hidden']) {
      expect(() => parseConfig({ ARTIFACTS_PREFIX: prefix }), prefix).toThrow(/ARTIFACTS_PREFIX: .* is invalid/);
    }
    expect(() => parseConfig({ ARTIFACTS_ENDPOINT: 'minio:9000' })).toThrow(/ARTIFACTS_ENDPOINT: "minio:9000" is invalid/);
  });

  it('uses an external Temporal server when TEMPORAL_ADDRESS is set', () => {
    const c = parseConfig({ TEMPORAL_ADDRESS: 'temporal.internal:7233' });
    expect(c.embeddedTemporal).toBe(false);
    expect(c.temporalAddress).toBe('temporal.internal:7233');
  });

  it('.env.example documents every setting, and only settings', () => {
    const text = fs.readFileSync(path.join(import.meta.dirname, '..', '..', '.env.example'), 'utf8');
    const listed = [...text.matchAll(/^([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]).sort();
    expect(listed).toEqual(Object.keys(configSchema.shape).sort());
    // The example file itself must parse.
    const values = Object.fromEntries([...text.matchAll(/^([A-Z][A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
    expect(() => parseConfig(values)).not.toThrow();
  });
});
