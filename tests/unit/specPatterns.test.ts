import { describe, expect, it } from 'vitest';
import { listJobsQuery } from '../../src/api/apiRoutes.js';
import { tokenInput } from '../../src/api/peopleRoutes.js';
import { containerListSchema, parsePortMapping } from '../../src/domain/containers.js';
import { toJsonSchema } from '../../src/domain/documentedSchema.js';
import { cidr, createJobSpecSchema, type JobSpecInput } from '../../src/domain/jobSpec.js';
import {
  emailPatterns,
  IMAGE_REFERENCE,
  ipv4NetworkPattern,
  PORT_MAPPING,
  USERS_CSV,
  VOLUME,
} from '../../src/domain/specPatterns.js';
import { parseUsersCsv } from '../../src/domain/usersCsv.js';
import { z } from 'zod';

/**
 * The OpenAPI document's patterns (specPatterns.ts) against the checks they
 * state: for every sample, the pattern matches exactly when the check
 * accepts. Samples are hand-picked edge cases and strings drawn (with a fixed
 * seed) from the characters each check cares about.
 */

/** mulberry32: the same strings every run. */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function drawn(parts: readonly string[], count: number, maxParts: number, seed: number): string[] {
  const next = random(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = '';
    const n = 1 + Math.floor(next() * maxParts);
    for (let j = 0; j < n; j++) s += parts[Math.floor(next() * parts.length)];
    out.push(s);
  }
  return out;
}

function agree(pattern: string, samples: string[], accepts: (s: string) => boolean) {
  const re = new RegExp(pattern, 'u');
  const disagreements = samples.filter((s) => re.test(s) !== accepts(s));
  expect(disagreements).toEqual([]);
}

const policy = { allowedRegions: ['us-east-1'], allowedInstanceTypes: ['t3.micro'], allowAccessKeys: false };
const specSchema = createJobSpecSchema(policy);
const spec = (overrides: Partial<JobSpecInput>): JobSpecInput => ({
  name: 'demo',
  requesterEmail: 'a@example.com',
  region: 'us-east-1',
  auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/P' },
  instance: { type: 't3.micro' },
  containers: [{ name: 'web', image: 'nginx' }],
  ...overrides,
});
const containerAccepted = (container: Record<string, unknown>) =>
  containerListSchema.safeParse([{ name: 'web', image: 'nginx', ...container }]).success;

describe('the document patterns say what the checks take', () => {
  it('IPv4 networks: octets to 255 (leading zeros too), a prefix to 32, no host bits', () => {
    const check = cidr('x');
    const octets = ['0', '00', '000', '1', '10', '010', '127', '128', '192', '224', '252', '255', '256', '300', '64', '96'];
    const edges = [
      '0.0.0.0/0',
      '10.0.0.0/8',
      '10.0.0.1/8',
      '10.0.0.0/08',
      '10.0.0.0/008',
      '203.0.113.0/24',
      '203.0.113.5/24',
      '203.0.113.5/32',
      '255.255.255.255/32',
      '255.255.255.254/31',
      '255.255.255.255/31',
      '128.0.0.0/1',
      '192.0.0.0/1',
      '1.2.3.4/33',
      '1.2.3.4',
      ' 1.2.3.4/32',
    ];
    const next = random(1);
    const pick = () => octets[Math.floor(next() * octets.length)];
    const samples = [...edges];
    for (let i = 0; i < 3000; i++) samples.push(`${pick()}.${pick()}.${pick()}.${pick()}/${Math.floor(next() * 35)}`);
    agree(ipv4NetworkPattern(), samples, (s) => check.safeParse(s).success);
  });

  it('port mappings: 1-65535 on both sides, leading zeros too, tcp or udp', () => {
    const samples = [
      ...['80:80', '8080:80/udp', '0:80', '65535:1/tcp', '65536:1', '00080:80', '000080:80', '1:1/sctp', ':80'],
      ...drawn(['0', '1', '6', '5', '3', '9', ':', '/tcp', '/udp', '00'], 3000, 8, 2),
    ];
    agree(PORT_MAPPING, samples, (s) => parsePortMapping(s) !== null);
  });

  it("image references: Docker's grammar as imageProblem reads it", () => {
    const parts = ['a', 'nginx', 'A', '0', '.', '-', '_', '__', '/', ':', '@', 'sha256:', 'e'.repeat(64), 'localhost', 'x.io'];
    const samples = [
      ...['nginx', 'nginx:1.27', 'library/nginx:latest', 'ghcr.io/a/b:c', 'localhost:5000/a', 'Nginx', 'a_b.c/d', 'a.b:5000'],
      ...['my-registry:5000/x', `x/y@sha256:${'a'.repeat(64)}`, `a@sha256:${'A'.repeat(64)}`, 'a:', 'a//b', '-a', 'a.-b/c'],
      ...drawn(parts, 5000, 7, 3),
    ];
    // The pattern and the schema's maxLength (255) together.
    agree(`^(?=.{0,255}$)${IMAGE_REFERENCE.slice(1)}`, samples, (s) => containerAccepted({ image: s }));
  });

  it('volumes: absolute paths without "..", neither /opt/app (nor a parent) nor its users file', () => {
    const parts = ['/', 'opt', 'app', 'users.csv', '..', '.', '...', ':', 'ro', 'rw', 'x', '~', 'srv', ' '];
    const samples = [
      ...['/srv:/data', '/srv:/data:ro', '/opt:/x', '/opt/:/x', '/opt/app/www:/x', '//opt:/x', '/:/x', '/a:/opt/app/users.csv/'],
      ...['/a/../b:/c', '/a/.../b:/c', 'a:/b', '/a:b', '/a:/b:rx', '/opt/app/users.csv:/x', '/a:/b:'],
      ...drawn(parts, 5000, 9, 4),
    ];
    agree(VOLUME, samples, (s) => containerAccepted({ volumes: [s] }));
  });

  it("requesterEmail: z.email()'s addresses of at most 254 characters, white space around them trimmed", () => {
    const long = `${'a'.repeat(240)}@example.com`;
    const samples = [
      ...['a@example.com', ' a@example.com\t', 'a@b', 'a..b@c.de', '.a@b.de', 'a@b.c', 'a b@c.de', `${long}xx`, `${long}xxx`],
      ...drawn(['a', '.', '@', 'x.io', ' ', '+', '_', "'", '-', '\u00a0'], 3000, 8, 5),
    ];
    const patterns = emailPatterns(z.regexes.email).map((p) => new RegExp(p.pattern, 'u'));
    const accepted = (s: string) =>
      !(specSchema.safeParse(spec({ requesterEmail: s })).error?.issues ?? []).some((i) => i.path[0] === 'requesterEmail');
    const disagreements = samples.filter((s) => patterns.every((p) => p.test(s)) !== accepted(s));
    expect(disagreements).toEqual([]);
  });

  it('token names: 1-64 of letters, digits, spaces and . _ - : @ once trimmed', () => {
    const { pattern } = (toJsonSchema(tokenInput).properties as Record<string, { pattern: string }>).name;
    const samples = [
      ...['ci', ' ci ', '', '   ', 'a'.repeat(64), 'a'.repeat(65), ` ${'a'.repeat(64)} `, 'a b', 'a/b', '\tci'],
      ...drawn(['a', ' ', '.', ':', '@', '/', '\t', 'b'.repeat(30)], 3000, 6, 6),
    ];
    agree(pattern, samples, (s) => tokenInput.safeParse({ name: s }).success);
  });

  it('query numbers: digits only, so "" and "1e3" are refused, not read as 0 and 1000', () => {
    for (const [limit, ok] of [
      ['25', true],
      ['007', true],
      ['', false],
      ['1e2', false],
      [' 5', false],
      ['0', false],
      ['201', false],
      ['-1', false],
    ] as const) {
      expect(listJobsQuery.safeParse({ limit }).success, `limit=${JSON.stringify(limit)}`).toBe(ok);
    }
  });

  it('the canonical users CSV: whatever it matches parses without an error', () => {
    const re = new RegExp(USERS_CSV, 'u');
    const cell = (options: string[], next: () => number) => options[Math.floor(next() * options.length)];
    const next = random(7);
    const files: string[] = [];
    for (let i = 0; i < 400; i++) {
      const rows = Array.from({ length: Math.floor(next() * 4) }, (_, j) =>
        [
          `${cell(['u', 'Bob', '0', 'a.b', '-x', '@y', 'x y'], next)}${i}-${j}`,
          cell(['a@b.io', 'x.y@example.com', '!#@a.io', '=a@b.io', 'a@b', 'a,b@c.io', '.a@b.co'], next),
          cell(['', 'admin', 'viewer x', '-r', ' r', 'r '], next),
          cell(['', "O'Neil", 'Ann Lee', '+1', 'x"y'], next),
        ].join(','),
      );
      const file = `username,email,role,display_name\n${rows.map((r) => `${r}\n`).join('')}`;
      if (re.test(file)) files.push(file);
    }
    expect(files.length).toBeGreaterThan(20);
    for (const f of files) expect(parseUsersCsv(f).errors, f).toEqual([]);
  });
});
