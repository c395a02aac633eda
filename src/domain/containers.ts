import { z } from 'zod';
import { documented, toJsonSchema } from './documentedSchema.js';
import { imageProblem } from './imageReference.js';
import {
  ENV_VALUE,
  IMAGE_REFERENCE,
  NON_BLANK_TEXT,
  PORT_MAPPING as PORT_MAPPING_PATTERN,
  TEXT,
  VOLUME,
} from './specPatterns.js';

/**
 * The container list a job deploys with docker-compose. Each container is
 * checked on its own first, then the list as a whole (unique names, unique
 * host ports), and every message starts with the container it is about, so a
 * form can show `container "webapp": port "99999:80" is out of range` next to
 * `containers[0].ports[1]` without knowing anything about compose.
 */

export const RESTART_POLICIES = ['no', 'always', 'on-failure', 'unless-stopped'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

export const MAX_CONTAINERS = 20;
const MAX_PORTS_PER_CONTAINER = 50;
const MAX_VOLUMES_PER_CONTAINER = 50;
const MAX_ENV_PER_CONTAINER = 200;
// A security group allows 60 inbound rules; keep room for SSH and operator additions.
export const MAX_PUBLISHED_PORTS = 50;

/** Where user data puts the service's own files; see activities/userData.ts. */
export const APP_DIR = '/opt/app';
export const USERS_CSV_PATH = `${APP_DIR}/users.csv`;
/** Set by the service on every container; a user value would silently lose. */
export const USERS_ENV_NAME = 'APP_USERS_B64';
/** Also set by the service on every container: the users file's path, there whatever the list's size. */
export const USERS_FILE_ENV_NAME = 'APP_USERS_FILE';

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PORT_MAPPING = /^(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/;
// Paths end up inside YAML and a shell heredoc; keep them to characters that mean nothing to either.
const SAFE_PATH = /^\/[A-Za-z0-9._@%+=,~/-]*$/;

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/** Null when the text is not a mapping at all or a port is out of range. */
export function parsePortMapping(text: string): PortMapping | null {
  const m = PORT_MAPPING.exec(text);
  if (!m) return null;
  const hostPort = Number(m[1]);
  const containerPort = Number(m[2]);
  if (!inPortRange(hostPort) || !inPortRange(containerPort)) return null;
  return { hostPort, containerPort, protocol: (m[3] as 'tcp' | 'udp' | undefined) ?? 'tcp' };
}

function inPortRange(n: number) {
  return n >= 1 && n <= 65535;
}

const checkedPort = z.string({ error: 'each port must be a string like "8080:80"' }).superRefine((text, ctx) => {
  const m = PORT_MAPPING.exec(text);
  if (!m) {
    ctx.addIssue({
      code: 'custom',
      message: `port "${text}" must look like "host:container" or "host:container/udp", e.g. "8080:80"`,
    });
  } else if (!inPortRange(Number(m[1])) || !inPortRange(Number(m[2]))) {
    ctx.addIssue({ code: 'custom', message: `port "${text}" is out of range (1-65535)` });
  }
});
const portSchema = documented(checkedPort, { type: 'string', pattern: PORT_MAPPING_PATTERN });

function hasDotDot(path: string) {
  return path.split('/').includes('..');
}

function isSameOrAncestor(path: string, of: string) {
  const p = path.replace(/\/+$/, '') || '/';
  return p === '/' || of === p || of.startsWith(`${p}/`);
}

const checkedVolume = z.string({ error: 'each volume must be a string like "/srv/data:/data"' }).superRefine((text, ctx) => {
  const fail = (message: string) => ctx.addIssue({ code: 'custom', message });
  const parts = text.split(':');
  if (parts.length < 2 || parts.length > 3) {
    return fail(`volume "${text}" must look like "/host/path:/container/path" or "/host/path:/container/path:ro"`);
  }
  const [host, target, mode] = parts;
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') return fail(`volume "${text}" has mode "${mode}"; use ro or rw`);
  if (!host.startsWith('/')) {
    return fail(`volume "${text}" must use an absolute host path starting with / (named volumes are not supported)`);
  }
  if (!target.startsWith('/')) return fail(`volume "${text}" must use an absolute container path starting with /`);
  if (hasDotDot(host) || hasDotDot(target)) return fail(`volume "${text}" must not contain ".." path segments`);
  if (!SAFE_PATH.test(host) || !SAFE_PATH.test(target)) {
    return fail(`volume "${text}" may only use letters, digits and . _ - / @ % + = , ~ in its paths`);
  }
  // users.csv lives in APP_DIR; mounting it (or a parent) would hand every file there,
  // the users list included, to whatever the container serves.
  if (isSameOrAncestor(host, USERS_CSV_PATH)) {
    return fail(
      `volume "${text}" would expose ${APP_DIR} to the container, and that folder holds the users file and its .env ` +
        `(users.csv, .env, docker-compose.yml); mount a subfolder such as ${APP_DIR}/www instead`,
    );
  }
  if (target.replace(/\/+$/, '') === USERS_CSV_PATH)
    return fail(`volume "${text}" uses ${USERS_CSV_PATH}, which the service mounts itself`);
});
const volumeSchema = documented(checkedVolume, { type: 'string', pattern: VOLUME });

const environmentSchema = z
  .record(z.string(), z.unknown(), { error: 'environment must be an object of NAME: "value" pairs' })
  .superRefine((env, ctx) => {
    const names = Object.keys(env);
    if (names.length > MAX_ENV_PER_CONTAINER) {
      ctx.addIssue({
        code: 'custom',
        message: `environment has ${names.length} variables; at most ${MAX_ENV_PER_CONTAINER} are allowed`,
      });
    }
    for (const name of names) {
      const value = env[name];
      if (!ENV_NAME.test(name)) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `environment variable name "${name}" is invalid (letters, digits and _, not starting with a digit)`,
        });
      } else if (name === USERS_ENV_NAME || name === USERS_FILE_ENV_NAME) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `environment variable ${name} is set by the service (the users CSV); choose another name`,
        });
      } else if (typeof value !== 'string') {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `environment variable ${name} must be a string (quote numbers and booleans, e.g. "8080")`,
        });
      } else if (value.includes('\0')) {
        ctx.addIssue({ code: 'custom', path: [name], message: `environment variable ${name} contains a NUL character` });
      }
    }
  })
  .transform((env) => env as Record<string, string>);
documented(environmentSchema, {
  type: 'object',
  maxProperties: MAX_ENV_PER_CONTAINER,
  propertyNames: { pattern: ENV_NAME.source, not: { enum: [USERS_ENV_NAME, USERS_FILE_ENV_NAME, '__proto__'] } },
  additionalProperties: { type: 'string', pattern: ENV_VALUE },
});

// Compose durations: "30s", "1m30s", "500ms".
const DURATION = /^(\d+(\.\d+)?(us|ms|s|m|h))+$/;
const durationSchema = (field: string) =>
  z
    .string({ error: `healthcheck ${field} must be a duration string like "30s" or "1m30s"` })
    .regex(DURATION, { error: (iss) => `healthcheck ${field} "${String(iss.input)}" is not a duration like "30s" or "1m30s"` });

/** Compose's healthcheck, as docker-compose takes it; the instance waits for "healthy" before the job succeeds. */
const healthcheckSchema = z.strictObject(
  {
    test: documented(
      z
        .union([z.string(), z.array(z.string())], { error: 'healthcheck test must be a string or a list of strings' })
        .superRefine((test, ctx) => {
          if (typeof test === 'string') {
            if (test.trim() === '') ctx.addIssue({ code: 'custom', message: 'healthcheck test must not be empty' });
            return;
          }
          if (!['CMD', 'CMD-SHELL'].includes(test[0] ?? '') || test.length < 2) {
            ctx.addIssue({
              code: 'custom',
              message:
                'healthcheck test as a list must start with "CMD" or "CMD-SHELL" and hold a command, e.g. ["CMD", "curl", "-f", "http://localhost/"]',
            });
          }
        }),
      {
        anyOf: [
          { type: 'string', pattern: NON_BLANK_TEXT },
          {
            type: 'array',
            minItems: 2,
            prefixItems: [{ enum: ['CMD', 'CMD-SHELL'] }],
            items: { type: 'string', pattern: TEXT },
          },
        ],
      },
    ),
    interval: durationSchema('interval').optional(),
    timeout: durationSchema('timeout').optional(),
    retries: z
      .number({ error: 'healthcheck retries must be a whole number from 1 to 100' })
      .int({ error: 'healthcheck retries must be a whole number from 1 to 100' })
      .min(1, { error: 'healthcheck retries must be a whole number from 1 to 100' })
      .max(100, { error: 'healthcheck retries must be a whole number from 1 to 100' })
      .optional(),
    start_period: durationSchema('start_period').optional(),
  },
  {
    error: (iss) =>
      iss.code === 'unrecognized_keys'
        ? `healthcheck: unknown field "${iss.keys[0]}" (test, interval, timeout, retries and start_period are known)`
        : 'healthcheck must be an object with at least a test',
  },
);

export type HealthcheckSpec = z.output<typeof healthcheckSchema>;

const commandSchema = z
  .union([z.string(), z.array(z.string())], {
    error: 'command must be a string or a list of strings',
  })
  .superRefine((cmd, ctx) => {
    if (typeof cmd === 'string' ? cmd.trim() === '' : cmd.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'command must not be empty (leave it out to use the image default)' });
    }
  });
documented(commandSchema, {
  anyOf: [
    { type: 'string', pattern: NON_BLANK_TEXT },
    { type: 'array', minItems: 1, items: { type: 'string', pattern: TEXT } },
  ],
});

/** One container, checked on its own; containerListSchema adds the container's name to each message. */
const containerSchema = z.strictObject(
  {
    name: z
      .string({ error: (iss) => (iss.input === undefined ? 'name is required' : 'name must be a string') })
      .regex(DNS_LABEL, {
        error: (iss) =>
          `name "${String(iss.input)}" must be a DNS label: 1-63 lowercase letters, digits or hyphens, not starting or ending with a hyphen`,
      }),
    image: documented(
      z
        .string({ error: (iss) => (iss.input === undefined ? 'image is required' : 'image must be a string') })
        .superRefine((image, ctx) => {
          const problem = imageProblem(image);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
      { type: 'string', maxLength: 255, pattern: IMAGE_REFERENCE },
    ),
    ports: z
      .array(portSchema, { error: 'ports must be a list like ["8080:80"]' })
      .max(MAX_PORTS_PER_CONTAINER, { error: `ports: at most ${MAX_PORTS_PER_CONTAINER} per container` })
      .default([]),
    environment: environmentSchema.default({}),
    volumes: z
      .array(volumeSchema, { error: 'volumes must be a list like ["/srv/data:/data"]' })
      .max(MAX_VOLUMES_PER_CONTAINER, { error: `volumes: at most ${MAX_VOLUMES_PER_CONTAINER} per container` })
      .default([]),
    restart: z
      .enum(RESTART_POLICIES, { error: `restart must be one of ${RESTART_POLICIES.join(', ')}` })
      .default('unless-stopped'),
    command: commandSchema.optional(),
    healthcheck: healthcheckSchema.optional(),
  },
  {
    error: (iss) =>
      iss.code === 'unrecognized_keys' ? `unknown field "${iss.keys[0]}"` : 'must be an object with at least name and image',
  },
);

export type ContainerSpec = z.output<typeof containerSchema>;
export type ContainerSpecInput = z.input<typeof containerSchema>;

function containerJsonSchema() {
  return toJsonSchema(containerSchema);
}

function label(item: unknown, index: number) {
  const name = item && typeof item === 'object' ? (item as { name?: unknown }).name : undefined;
  return typeof name === 'string' && DNS_LABEL.test(name) ? `container "${name}"` : `container #${index + 1}`;
}

type Issue = { message: string; path: PropertyKey[] };

function validateList(items: unknown[]): { specs: ContainerSpec[]; issues: Issue[] } {
  const issues: Issue[] = [];
  const specs: ContainerSpec[] = [];
  items.forEach((item, i) => {
    const who = label(item, i);
    const parsed = containerSchema.safeParse(item);
    if (parsed.success) {
      specs.push(parsed.data);
      return;
    }
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        // One issue per key, at the key, so a form can point at the field.
        for (const key of issue.keys) issues.push({ path: [i, ...issue.path, key], message: `${who}: unknown field "${key}"` });
      } else {
        issues.push({ path: [i, ...issue.path], message: `${who}: ${issue.message}` });
      }
    }
  });

  // List-wide rules look at the raw items, so a duplicate is still reported
  // when the container has other problems.
  const names = new Map<string, number>();
  const hostPorts = new Map<string, { index: number; who: string }>();
  items.forEach((item, i) => {
    if (!item || typeof item !== 'object') return;
    const who = label(item, i);
    const { name, ports, environment } = item as { name?: unknown; ports?: unknown; environment?: unknown };
    // The record schema skips this key (and no JavaScript object can hold it as data): refused, not silently lost.
    if (environment && typeof environment === 'object' && Object.hasOwn(environment, '__proto__')) {
      issues.push({
        path: [i, 'environment', '__proto__'],
        message: `${who}: environment variable name "__proto__" cannot be used; choose another name`,
      });
    }
    if (typeof name === 'string' && name !== '') {
      const first = names.get(name);
      if (first === undefined) names.set(name, i);
      else issues.push({ path: [i, 'name'], message: `${who}: name "${name}" is already used by container #${first + 1}` });
    }
    if (Array.isArray(ports)) {
      ports.forEach((p, j) => {
        const mapping = typeof p === 'string' ? parsePortMapping(p) : null;
        if (!mapping) return;
        // tcp and udp on the same host port do not collide (e.g. DNS on 53).
        const key = `${mapping.hostPort}/${mapping.protocol}`;
        const first = hostPorts.get(key);
        if (!first) hostPorts.set(key, { index: i, who });
        else {
          const owner = first.index === i ? 'this container' : first.who;
          issues.push({ path: [i, 'ports', j], message: `${who}: host port ${key} is already published by ${owner}` });
        }
      });
    }
  });
  if (hostPorts.size > MAX_PUBLISHED_PORTS) {
    issues.push({
      path: [],
      message: `containers publish ${hostPorts.size} host ports; at most ${MAX_PUBLISHED_PORTS} in total fit in one security group`,
    });
  }
  // Stable sort: each container's problems together, in list order (list-wide ones first).
  issues.sort((a, b) => ((a.path[0] as number | undefined) ?? -1) - ((b.path[0] as number | undefined) ?? -1));
  return { specs, issues };
}

/**
 * The container list (1..20 containers). Input is what a user typed or
 * posted; output has defaults filled in (ports/volumes [], environment {},
 * restart unless-stopped).
 */
export const containerListSchema = z
  .array(z.unknown(), { error: 'containers must be a list of containers' })
  .min(1, { error: 'containers: at least one container is required' })
  // Items are checked in the transform (to name the container in messages);
  // this tells z.toJSONSchema (the OpenAPI document) what an item looks like.
  .meta({
    items: containerJsonSchema(),
    description:
      `names unique; each host port (with its protocol) published once in the list, at most ${MAX_PUBLISHED_PORTS} in all; ` +
      "with the users CSV, small enough for EC2's 16 KB of user data (unless the service has an ARTIFACTS_BUCKET)",
  })
  .max(MAX_CONTAINERS, {
    error: (iss) => `containers: at most ${MAX_CONTAINERS} containers are allowed (got ${(iss.input as unknown[]).length})`,
  })
  .transform((items, ctx) => {
    const { specs, issues } = validateList(items);
    if (issues.length === 0) return specs;
    for (const issue of issues) ctx.issues.push({ code: 'custom', input: items, ...issue });
    return z.NEVER;
  }) as unknown as z.ZodType<ContainerSpec[], ContainerSpecInput[]>;

export interface PublishedPort {
  /** The host port the instance opens. */
  port: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
  container: string;
}

/** Host ports the instance must open, in list order; used by the security group and readiness. */
export function publishedPorts(containers: readonly Pick<ContainerSpec, 'name' | 'ports'>[]): PublishedPort[] {
  const out: PublishedPort[] = [];
  for (const c of containers) {
    for (const p of c.ports ?? []) {
      const mapping = parsePortMapping(p);
      if (mapping)
        out.push({ port: mapping.hostPort, containerPort: mapping.containerPort, protocol: mapping.protocol, container: c.name });
    }
  }
  return out;
}
