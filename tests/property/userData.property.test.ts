import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { containerListSchema, type ContainerSpec } from '../../src/domain/containers.js';
import { usersToCsv, parseUsersCsv } from '../../src/domain/usersCsv.js';
import { renderUserData } from '../../src/domain/userDataScript.js';
import { containerListInput } from './arbitraries/containers.js';
import { userText } from './arbitraries/text.js';
import { appUsers } from './arbitraries/users.js';
import { bashSyntax, plainScript, runFilesPhase } from './support/runFilesPhase.js';

/**
 * Whatever a user puts in the values they control (environment values,
 * commands, healthchecks, names and images within their rules, the users
 * list), the first-boot script keeps it quoted: bash parses the script, the
 * compose file it writes reads back (as YAML, then as compose interpolates
 * it) to exactly those values, and so do the users file and the variables.
 * Each example runs bash twice, so the run count stays small.
 */

const RUNS = { numRuns: 80 };
const USERS_ENV = '${APP_USERS_B64?APP_USERS_B64 is missing from /opt/app/.env}';

/** What compose makes of a value: `$$` is a dollar; any other `$` would be a substitution, or an error. */
function interpolated(value: string): string {
  return value.replace(/\$(\$|\{[^}]*\}?|[A-Za-z_][A-Za-z0-9_]*)?/g, (match, what) => {
    if (what === '$') return '$';
    throw new Error(`compose would substitute ${match} in ${JSON.stringify(value)}`);
  });
}

/** Every string compose interpolates, as compose sees it; the users variable is the one meant for substitution. */
function asCompose(value: unknown, key?: string): unknown {
  if (typeof value === 'string') return key === 'APP_USERS_B64' ? value : interpolated(value);
  if (Array.isArray(value)) return value.map((v) => asCompose(v));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asCompose(v, k)]));
  }
  return value;
}

/** The compose file the service means to write, from the containers as the user gave them. */
function expectedCompose(containers: ContainerSpec[]) {
  const services: Record<string, unknown> = {};
  for (const c of containers) {
    services[c.name] = {
      image: c.image,
      restart: c.restart,
      ...(c.command !== undefined ? { command: c.command } : {}),
      ...(c.ports.length ? { ports: c.ports } : {}),
      environment: { ...c.environment, APP_USERS_B64: USERS_ENV, APP_USERS_FILE: '/opt/app/users.csv' },
      volumes: [...c.volumes, '/opt/app/users.csv:/opt/app/users.csv:ro'],
      ...(c.healthcheck ? { healthcheck: c.healthcheck } : {}),
    };
  }
  return { services };
}

const jobId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);

describe('user data script (property)', () => {
  it('writes exactly the values users gave, whatever characters they hold', () => {
    fc.assert(
      fc.property(jobId, containerListInput(), appUsers(5), (id, list, users) => {
        const containers = containerListSchema.parse(list);
        const usersCsv = usersToCsv(users);
        const script = plainScript(renderUserData({ jobId: id, containers, usersCsv }));

        expect(bashSyntax(script)).toEqual({ status: 0, stderr: '' });
        const run = runFilesPhase(script, ['JOB_ID', 'CONTAINERS', 'IMAGES', 'HEALTHCHECKED']);
        expect(run.status, run.output).toBe(0);

        const compose = run.file('docker-compose.yml') ?? '';
        const expected = expectedCompose(containers);
        expect(asCompose(YAML.parse(compose))).toEqual(expected);
        // Compose files are also read by YAML 1.1 tools, where "no", "on" and 0755 mean other things.
        expect(asCompose(YAML.parse(compose, { version: '1.1' }))).toEqual(expected);

        expect(run.file('users.csv')).toBe(usersCsv);
        expect(parseUsersCsv(run.file('users.csv') ?? '').users).toEqual(users);
        expect(run.file('.env')).toBe(`APP_USERS_B64=${Buffer.from(usersCsv).toString('base64')}\n`);

        expect(run.vars).toEqual({
          JOB_ID: [id],
          CONTAINERS: containers.map((c) => c.name),
          IMAGES: containers.map((c) => c.image),
          HEALTHCHECKED: containers.map((c) => (c.healthcheck ? '1' : '0')),
        });
      }),
      RUNS,
    );
  });

  it('puts artifact settings in the script as given, or refuses them', () => {
    // Mostly settings of the right shape (those reach bash), sometimes any text at all (those must be refused).
    const mostly = (valid: fc.Arbitrary<string>, minLength = 0) =>
      fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: userText({ minLength }) });
    const bucket = mostly(fc.stringMatching(/^[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]$/), 1);
    const keyPrefix = mostly(fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,8}(\/[A-Za-z0-9_-]{1,8}){0,2}$/));
    const region = mostly(fc.constantFrom('us-east-1', 'eu-central-2', 'us-gov-west-1'));
    fc.assert(
      fc.property(bucket, keyPrefix, region, (b, p, r) => {
        const containers = containerListSchema.parse([{ name: 'web', image: 'nginx:1.27' }]);
        let script: string;
        try {
          script = plainScript(renderUserData({ jobId: 'j1', containers, artifacts: { bucket: b, keyPrefix: p, region: r } }));
        } catch (err) {
          expect((err as Error).message).toMatch(/^artifacts (bucket|key prefix|region) /);
          return;
        }
        expect(bashSyntax(script)).toEqual({ status: 0, stderr: '' });
        const names = ['ARTIFACTS_BUCKET', 'ARTIFACTS_PREFIX', 'ARTIFACTS_REGION'];
        const run = runFilesPhase(script, names, '\ninstall_aws_cli() {');
        expect(run.status, run.output).toBe(0);
        expect(run.vars).toEqual({ ARTIFACTS_BUCKET: [b], ARTIFACTS_PREFIX: [p], ARTIFACTS_REGION: [r] });
      }),
      { numRuns: 60 },
    );
  });
});
