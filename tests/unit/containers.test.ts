import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { containerListSchema, parsePortMapping, publishedPorts } from '../../src/domain/containers.js';
import { formatIssuePath } from '../../src/domain/jobSpec.js';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/containers');

function corpus(kind: 'good' | 'bad') {
  return fs
    .readdirSync(path.join(FIXTURES, kind))
    .filter((f) => f.endsWith('.json') && f !== 'expected.json')
    .sort();
}

function read(kind: string, file: string): unknown {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, kind, file), 'utf8'));
}

function fields(input: unknown) {
  const result = containerListSchema.safeParse(input);
  if (result.success) return [];
  return result.error.issues.map((i) => ({ path: formatIssuePath(['containers', ...i.path]), message: i.message }));
}

describe('container list corpus', () => {
  const expected = read('bad', 'expected.json') as Record<string, { path: string; message: string }[]>;

  it('has an expected error list for every bad file and a file for every entry', () => {
    expect(Object.keys(expected).sort()).toEqual(corpus('bad'));
  });

  it.each(corpus('good'))('accepts good/%s', (file) => {
    expect(fields(read('good', file))).toEqual([]);
  });

  it.each(corpus('bad'))('refuses bad/%s with the exact errors', (file) => {
    const errors = fields(read('bad', file));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors).toEqual(expected[file]);
  });
});

describe('containerListSchema', () => {
  it('fills defaults: no ports, no environment, no volumes, restart unless-stopped', () => {
    expect(containerListSchema.parse([{ name: 'web', image: 'nginx' }])).toEqual([
      { name: 'web', image: 'nginx', ports: [], environment: {}, volumes: [], restart: 'unless-stopped' },
    ]);
  });

  it('names the container and the field, with a path to the entry', () => {
    expect(fields([{ name: 'webapp', image: 'nginx:latest', ports: ['80:80', '99999:80'] }])).toEqual([
      { path: 'containers[0].ports[1]', message: 'container "webapp": port "99999:80" is out of range (1-65535)' },
    ]);
  });

  it('lets tcp and udp share a host port but not two containers share one', () => {
    expect(fields([{ name: 'dns', image: 'coredns/coredns', ports: ['53:53/udp', '53:53'] }])).toEqual([]);
    expect(
      fields([
        { name: 'a', image: 'x', ports: ['53:53/udp'] },
        { name: 'b', image: 'y', ports: ['53:5353/udp'] },
      ]),
    ).toEqual([
      { path: 'containers[1].ports[0]', message: 'container "b": host port 53/udp is already published by container "a"' },
    ]);
  });

  it('reports a port published twice by the same container', () => {
    expect(fields([{ name: 'a', image: 'x', ports: ['80:80', '80:8080'] }])).toEqual([
      { path: 'containers[0].ports[1]', message: 'container "a": host port 80/tcp is already published by this container' },
    ]);
  });

  it('reports a duplicate even when the container has other problems', () => {
    const errors = fields([
      { name: 'a', image: 'x' },
      { name: 'a', image: 'NOPE' },
    ]);
    expect(errors.map((e) => e.path)).toEqual(['containers[1].image', 'containers[1].name']);
  });

  it('caps the published ports at what one security group holds', () => {
    const containers = [0, 1].map((c) => ({
      name: `c${c}`,
      image: 'busybox',
      ports: Array.from({ length: 26 }, (_, i) => `${10000 + c * 100 + i}:80`),
    }));
    expect(fields(containers)).toEqual([
      { path: 'containers', message: 'containers publish 52 host ports; at most 50 in total fit in one security group' },
    ]);
  });

  it('accepts the image reference forms Docker accepts', () => {
    const images = [
      'nginx',
      'nginx:1.27-alpine',
      'library/nginx:latest',
      'bitnami/redis',
      'ghcr.io/acme/team/api:v1.2.3',
      'registry.example.com:5000/app',
      'localhost:5000/app:dev',
      `nginx@sha256:${'0'.repeat(64)}`,
      `nginx:1.27@sha256:${'f'.repeat(64)}`,
      'my_org/my__app',
      'a--b/c',
    ];
    for (const image of images) expect(fields([{ name: 'x', image }]), image).toEqual([]);
    for (const image of ['', 'nginx:', ':latest', '/nginx', 'nginx//x', 'ngi nx', 'nginx@md5:abc', 'UPPER/case', 'a_/b']) {
      expect(fields([{ name: 'x', image }]), image).not.toEqual([]);
    }
  });
});

describe('parsePortMapping and publishedPorts', () => {
  it('parses host:container[/proto] and defaults to tcp', () => {
    expect(parsePortMapping('8080:80')).toEqual({ hostPort: 8080, containerPort: 80, protocol: 'tcp' });
    expect(parsePortMapping('53:53/udp')).toEqual({ hostPort: 53, containerPort: 53, protocol: 'udp' });
    expect(parsePortMapping('65536:80')).toBeNull();
    expect(parsePortMapping('80')).toBeNull();
  });

  it('lists every host port with its protocol and container, in order', () => {
    const containers = containerListSchema.parse([
      { name: 'web', image: 'nginx', ports: ['80:80', '443:443'] },
      { name: 'dns', image: 'coredns/coredns', ports: ['53:53/udp'] },
      { name: 'worker', image: 'busybox' },
    ]);
    expect(publishedPorts(containers)).toEqual([
      { port: 80, containerPort: 80, protocol: 'tcp', container: 'web' },
      { port: 443, containerPort: 443, protocol: 'tcp', container: 'web' },
      { port: 53, containerPort: 53, protocol: 'udp', container: 'dns' },
    ]);
  });
});

describe('healthcheck', () => {
  const withCheck = (healthcheck: unknown) => [{ name: 'web', image: 'nginx', healthcheck }];

  it('takes compose healthchecks: a shell string or a CMD list, with durations and retries', () => {
    expect(
      fields(withCheck({ test: 'curl -f http://localhost/', interval: '10s', timeout: '2s', retries: 3, start_period: '1m30s' })),
    ).toEqual([]);
    expect(fields(withCheck({ test: ['CMD', 'curl', '-f', 'http://localhost/'] }))).toEqual([]);
    expect(fields(withCheck({ test: ['CMD-SHELL', 'pg_isready'] }))).toEqual([]);
  });

  it('names the field of each mistake', () => {
    expect(fields(withCheck({ test: ['curl', 'x'], interval: '10 seconds', retries: 0, start: '5s' }))).toEqual([
      {
        path: 'containers[0].healthcheck.test',
        message:
          'container "web": healthcheck test as a list must start with "CMD" or "CMD-SHELL" and hold a command, e.g. ["CMD", "curl", "-f", "http://localhost/"]',
      },
      {
        path: 'containers[0].healthcheck.interval',
        message: 'container "web": healthcheck interval "10 seconds" is not a duration like "30s" or "1m30s"',
      },
      {
        path: 'containers[0].healthcheck.retries',
        message: 'container "web": healthcheck retries must be a whole number from 1 to 100',
      },
      { path: 'containers[0].healthcheck.start', message: 'container "web": unknown field "start"' },
    ]);
    expect(fields(withCheck({}))).toEqual([
      {
        path: 'containers[0].healthcheck.test',
        message: 'container "web": healthcheck test must be a string or a list of strings',
      },
    ]);
  });
});
