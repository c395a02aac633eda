import YAML, { isMap, isScalar, type Pair } from 'yaml';
import { APP_DIR, USERS_CSV_PATH, USERS_ENV_NAME, USERS_FILE_ENV_NAME, type ContainerSpec } from './containers.js';

/**
 * The instance's docker-compose.yml, rendered from the job's containers. Pure; the first-boot script
 * embeds it or the service uploads it (instanceArtifacts.ts), byte for byte the same.
 */

/** Compose reads variables for ${...} from here; it carries APP_USERS_B64 once instead of once per service. */
const COMPOSE_ENV_PATH = `${APP_DIR}/.env`;

/** Compose interpolates $VAR in values; a user's "pa$word" must reach the container as typed. */
function escapeDollars(value: string) {
  return value.replace(/\$/g, '$$$$');
}

const YAML_OPTIONS = {
  // Every scalar double-quoted: "no", "on", "80:80" and "0755" stay strings for any YAML reader.
  defaultStringType: 'QUOTE_DOUBLE',
  defaultKeyType: 'PLAIN',
  // JSON escapes keep each value on one line, so nothing a user typed can end the heredoc.
  doubleQuotedAsJSON: true,
  lineWidth: 0,
} as const;

function misreadWhenPlain(name: string) {
  return YAML.parse(name, { version: '1.1' }) !== name;
}

export function renderComposeYaml(containers: readonly ContainerSpec[]): string {
  const services: Record<string, unknown> = {};
  for (const c of containers) {
    const environment: Record<string, string> = {};
    for (const [name, value] of Object.entries(c.environment ?? {})) environment[name] = escapeDollars(value);
    // Filled from .env at `up` time; `:?` makes compose stop instead of starting with an empty list.
    // `?` (not `:?`): compose stops when .env lacks the variable, and passes an empty one through (a list
    // too large for one variable, which the containers then read from the file).
    environment[USERS_ENV_NAME] = `\${${USERS_ENV_NAME}?${USERS_ENV_NAME} is missing from ${COMPOSE_ENV_PATH}}`;
    environment[USERS_FILE_ENV_NAME] = USERS_CSV_PATH;
    const service: Record<string, unknown> = { image: c.image, restart: c.restart ?? 'unless-stopped' };
    if (c.command !== undefined) {
      service.command = Array.isArray(c.command) ? c.command.map(escapeDollars) : escapeDollars(c.command);
    }
    if (c.ports?.length) service.ports = [...c.ports];
    service.environment = environment;
    service.volumes = [...(c.volumes ?? []), `${USERS_CSV_PATH}:${USERS_CSV_PATH}:ro`];
    if (c.healthcheck) {
      const { test, ...timing } = c.healthcheck;
      service.healthcheck = { test: Array.isArray(test) ? test.map(escapeDollars) : escapeDollars(test), ...timing };
    }
    services[c.name] = service;
  }
  const doc = new YAML.Document({ services });
  // Environment names are map keys; quote them too, so TRUE or 1X never become booleans or numbers.
  // Service names likewise, where a YAML 1.1 reader would take the plain name for one ("no", "y", "0b1");
  // others stay plain, as the sandbox's stand-in docker reads them.
  YAML.visit(doc, {
    Pair(_key, pair: Pair, path) {
      const parent = path[path.length - 2];
      if (!YAML.isPair(parent) || !isScalar(parent.key) || !isMap(path[path.length - 1]) || !isScalar(pair.key)) return;
      if (parent.key.value === 'environment') pair.key.type = 'QUOTE_DOUBLE';
      else if (parent.key.value === 'services' && path.length === 4 && misreadWhenPlain(String(pair.key.value))) {
        pair.key.type = 'QUOTE_DOUBLE';
      }
    },
  });
  return doc.toString(YAML_OPTIONS);
}
