import fc from 'fast-check';
import { RESTART_POLICIES, type ContainerSpec, type ContainerSpecInput } from '../../../src/domain/containers.js';
import { userText } from './text.js';

/**
 * Valid containers built from the rules users are told (DNS label names,
 * docker references, "host:container" ports, absolute paths), not from the
 * validator's own regular expressions, so a rule the validator gets wrong
 * shows up as a refused valid container.
 */

/** DNS labels, with those a YAML reader may take for a boolean, null or number among them. */
const dnsLabel = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/) },
  { weight: 1, arbitrary: fc.constantFrom('no', 'n', 'y', 'yes', 'on', 'off', 'true', 'null', '0b1', '1e3', '0x1f', '012', '1') },
);

// Separators inside a repository path component: one dot, one or two underscores, any run of dashes.
const pathComponent = (allowDots: boolean) =>
  fc.array(fc.stringMatching(/^[a-z0-9]{1,6}$/), { minLength: 1, maxLength: 3 }).chain((words) =>
    fc
      .array(fc.constantFrom(...(allowDots ? ['.', '_', '__', '-', '--'] : ['_', '__', '-', '--'])), {
        minLength: words.length - 1,
        maxLength: words.length - 1,
      })
      .map((seps) => words.map((w, i) => (i === 0 ? w : `${seps[i - 1]}${w}`)).join('')),
  );

const registryHost = fc
  .tuple(
    fc.array(fc.stringMatching(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?$/), { minLength: 2, maxLength: 3 }),
    fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
  )
  .map(([labels, port]) => `${labels.join('.')}${port === undefined ? '' : `:${port}`}`);

export const imageRef = fc
  .record({
    registry: fc.option(fc.oneof(registryHost, fc.constant('localhost:5000')), { nil: undefined }),
    // Without a registry, a first component with a dot would read as a host: dots only in a lone component.
    path: fc.array(pathComponent(false), { minLength: 1, maxLength: 3 }),
    lonePath: pathComponent(true),
    tag: fc.option(fc.stringMatching(/^\w[\w.-]{0,20}$/), { nil: undefined }),
    digest: fc.option(fc.stringMatching(/^[a-f0-9]{64}$/), { nil: undefined }),
  })
  .map(({ registry, path, lonePath, tag, digest }) => {
    const repo = registry ? `${registry}/${path.join('/')}` : path.length === 1 ? lonePath : path.join('/');
    return `${repo}${tag === undefined ? '' : `:${tag}`}${digest === undefined ? '' : `@sha256:${digest}`}`;
  });

const portText = fc
  .record({
    host: fc.integer({ min: 1, max: 65535 }),
    container: fc.integer({ min: 1, max: 65535 }),
    protocol: fc.constantFrom(undefined, 'tcp', 'udp'),
  })
  .map(({ host, container, protocol }) => `${host}:${container}${protocol ? `/${protocol}` : ''}`);

// Paths under /srv or /data can never reach /opt/app, which holds the users file.
const safeSegment = fc.stringMatching(/^[A-Za-z0-9._@%+=,~-]{1,8}$/).filter((s) => s !== '..');
const absolutePath = (root: string) => fc.array(safeSegment, { maxLength: 3 }).map((segs) => [root, ...segs].join('/'));
const volumeText = fc
  .tuple(
    fc.constantFrom('/srv', '/data'),
    fc.constantFrom('/data', '/usr/share/html', '/var/lib/x'),
    fc.constantFrom('', ':ro', ':rw'),
  )
  .chain(([hostRoot, targetRoot, mode]) =>
    fc.tuple(absolutePath(hostRoot), absolutePath(targetRoot)).map(([host, target]) => `${host}:${target}${mode}`),
  );

/**
 * Environment names, with ones that mean something to JavaScript objects or YAML among them.
 * "__proto__" is refused (a JavaScript object cannot carry it as data); the service sets the other two.
 */
const RESERVED_ENV = ['__proto__', 'APP_USERS_B64', 'APP_USERS_FILE'];
export const envName = fc
  .oneof(
    { weight: 5, arbitrary: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/) },
    { weight: 1, arbitrary: fc.constantFrom('constructor', 'toString', 'hasOwnProperty', 'valueOf', 'TRUE', 'on', 'Y') },
  )
  .filter((n) => !RESERVED_ENV.includes(n));

const duration = fc.stringMatching(/^([1-9]\d{0,2}(\.\d)?(us|ms|s|m|h)){1,2}$/);

const healthcheck = fc.record(
  {
    test: fc.oneof(
      userText({ minLength: 1 }).filter((t) => t.trim() !== ''),
      fc
        .tuple(fc.constantFrom('CMD', 'CMD-SHELL'), fc.array(userText(), { minLength: 1, maxLength: 3 }))
        .map(([head, rest]) => [head, ...rest]),
    ),
    interval: duration,
    timeout: duration,
    retries: fc.integer({ min: 1, max: 100 }),
    start_period: duration,
  },
  { requiredKeys: ['test'] },
);

const command = fc.oneof(
  userText({ minLength: 1 }).filter((t) => t.trim() !== ''),
  fc.array(userText(), { minLength: 1, maxLength: 4 }),
);

/** One container as a user would post it: optional fields left out or given. */
export function containerInput(opts: { maxEnv?: number } = {}): fc.Arbitrary<ContainerSpecInput> {
  return fc.record(
    {
      name: dnsLabel,
      image: imageRef,
      ports: fc.array(portText, { maxLength: 3 }),
      environment: fc.dictionary(envName, userText(), { maxKeys: opts.maxEnv ?? 5, noNullPrototype: true }),
      volumes: fc.array(volumeText, { maxLength: 2 }),
      restart: fc.constantFrom(...RESTART_POLICIES),
      command,
      healthcheck,
    },
    { requiredKeys: ['name', 'image'] },
  ) as fc.Arbitrary<ContainerSpecInput>;
}

function hostPortKeys(c: ContainerSpecInput): string[] {
  return (c.ports ?? []).map((p) => {
    const [host, rest] = p.split(':');
    return `${Number(host)}/${rest.split('/')[1] ?? 'tcp'}`;
  });
}

/** A list the list-wide rules accept too: names unique, every host port published once. */
export function containerListInput(opts: { maxLength?: number; maxEnv?: number } = {}) {
  return fc
    .uniqueArray(containerInput(opts), { minLength: 1, maxLength: opts.maxLength ?? 3, selector: (c) => c.name })
    .filter((list) => {
      const keys = list.flatMap(hostPortKeys);
      return new Set(keys).size === keys.length;
    });
}

/** What the schema promises to return for a valid container: the input with its documented defaults. */
export function withContainerDefaults(c: ContainerSpecInput): ContainerSpec {
  return {
    ...c,
    ports: c.ports ?? [],
    environment: c.environment ?? {},
    volumes: c.volumes ?? [],
    restart: c.restart ?? 'unless-stopped',
  } as ContainerSpec;
}
