import { gzipSync } from 'node:zlib';
import YAML, { isMap, isScalar, type Pair } from 'yaml';
import { APP_DIR, USERS_CSV_PATH, USERS_ENV_NAME, publishedPorts, type ContainerSpec } from '../domain/containers.js';
import type { JobSpec, PublicJobSpec } from '../domain/jobSpec.js';
import { usersToCsv } from '../domain/usersCsv.js';

/**
 * What the instance runs at first boot, and the tfvars that hand it to the
 * AWS module. Pure functions: the render activity writes the results, these
 * only build them, so tests can read every byte.
 *
 * Container environment values travel here in clear (EC2 user data is
 * readable by anyone with ec2:DescribeInstanceAttribute and from inside the
 * instance): not a place for secrets.
 */

/** EC2's limit on raw (decoded) user data. */
export const USER_DATA_LIMIT_BYTES = 16_384;
export const COMPOSE_FILE_PATH = `${APP_DIR}/docker-compose.yml`;
/** Compose reads variables for ${...} from here; it carries APP_USERS_B64 once instead of once per service. */
export const COMPOSE_ENV_PATH = `${APP_DIR}/.env`;
export const PROVISIONING_LOG = '/var/log/provisioning.log';
/** AL2023 packages Docker but not the compose plugin; this release is fetched from GitHub there. */
export const COMPOSE_PLUGIN_VERSION = 'v2.29.7';

const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function successMarker(jobId: string) {
  return `PROVISIONING-SUCCESS job=${jobId}`;
}

export function failureMarkerPrefix(jobId: string) {
  return `PROVISIONING-FAILED job=${jobId}`;
}

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

export function renderComposeYaml(containers: readonly ContainerSpec[]): string {
  const services: Record<string, unknown> = {};
  for (const c of containers) {
    const environment: Record<string, string> = {};
    for (const [name, value] of Object.entries(c.environment ?? {})) environment[name] = escapeDollars(value);
    // Filled from .env at `up` time; `:?` makes compose stop instead of starting with an empty list.
    environment[USERS_ENV_NAME] = `\${${USERS_ENV_NAME}:?${USERS_ENV_NAME} is missing from ${COMPOSE_ENV_PATH}}`;
    const service: Record<string, unknown> = { image: c.image, restart: c.restart ?? 'unless-stopped' };
    if (c.command !== undefined) {
      service.command = Array.isArray(c.command) ? c.command.map(escapeDollars) : escapeDollars(c.command);
    }
    if (c.ports?.length) service.ports = [...c.ports];
    service.environment = environment;
    service.volumes = [...(c.volumes ?? []), `${USERS_CSV_PATH}:${USERS_CSV_PATH}:ro`];
    services[c.name] = service;
  }
  const doc = new YAML.Document({ services });
  // Environment names are map keys; quote them too, so TRUE or 1X never become booleans or numbers.
  YAML.visit(doc, {
    Pair(_key, pair: Pair, path) {
      const parent = path[path.length - 2];
      if (YAML.isPair(parent) && isScalar(parent.key) && parent.key.value === 'environment' && isMap(path[path.length - 1])) {
        if (isScalar(pair.key)) pair.key.type = 'QUOTE_DOUBLE';
      }
    },
  });
  return doc.toString(YAML_OPTIONS);
}

function heredocDelimiter(body: string) {
  const lines = new Set(body.split('\n'));
  let delimiter = 'COMPOSE_EOF';
  for (let i = 1; lines.has(delimiter); i++) delimiter = `COMPOSE_EOF_${i}`;
  return delimiter;
}

function userDataScript(jobId: string, composeYaml: string, usersB64: string) {
  const delimiter = heredocDelimiter(composeYaml);
  return `#!/bin/bash
# First-boot script for provisioning job ${jobId}, rendered by the provisioning service.
# Container environment values travel in clear here: not a place for secrets.
set -euo pipefail
# ERR traps also fire inside functions.
set -o errtrace

JOB_ID='${jobId}'
COMPOSE_VERSION='${COMPOSE_PLUGIN_VERSION}'
LOG=${PROVISIONING_LOG}

exec > >(tee -a "$LOG") 2>&1

# The markers also go to the console, which is what EC2 GetConsoleOutput shows.
marker() {
  echo "$1"
  echo "$1" > /dev/console 2>/dev/null || true
}

on_error() {
  local rc=$? line=$1
  marker "PROVISIONING-FAILED job=\${JOB_ID} line=\${line} exit=\${rc} (see \${LOG})"
  exit "$rc"
}
trap 'on_error $LINENO' ERR

# Package mirrors and registries fail now and then at boot; give them a few tries.
retry() {
  local attempt=1
  until "$@"; do
    if [ "$attempt" -ge 5 ]; then
      echo "giving up after $attempt attempts: $*" >&2
      return 1
    fi
    sleep $((attempt * 5))
    attempt=$((attempt + 1))
  done
}

install_compose_plugin() {
  if docker compose version >/dev/null 2>&1; then
    return 0
  fi
  local dir=/usr/local/lib/docker/cli-plugins
  local url
  url="https://github.com/docker/compose/releases/download/\${COMPOSE_VERSION}/docker-compose-linux-$(uname -m)"
  mkdir -p "$dir"
  retry curl -fsSL -o "$dir/docker-compose" "$url"
  retry curl -fsSL -o "$dir/docker-compose.sha256" "$url.sha256"
  local expected actual
  expected=$(cut -d ' ' -f 1 "$dir/docker-compose.sha256")
  actual=$(sha256sum "$dir/docker-compose" | cut -d ' ' -f 1)
  if [ "$expected" != "$actual" ]; then
    echo "docker compose plugin checksum mismatch (expected $expected, got $actual)" >&2
    return 1
  fi
  chmod 0755 "$dir/docker-compose"
}

install_docker() {
  if ! command -v docker >/dev/null 2>&1; then
    if command -v dnf >/dev/null 2>&1; then
      # Amazon Linux 2023
      retry dnf install -y docker
    elif command -v apt-get >/dev/null 2>&1; then
      export DEBIAN_FRONTEND=noninteractive
      retry apt-get update -y
      retry apt-get install -y docker.io
      apt-get install -y docker-compose-v2 || apt-get install -y docker-compose-plugin || true
    else
      echo "neither dnf nor apt-get found: cannot install Docker on this AMI" >&2
      return 1
    fi
  fi
  systemctl enable --now docker
  retry docker info >/dev/null
  install_compose_plugin
}

echo "provisioning job \${JOB_ID}: installing Docker"
install_docker

install -d -m 0755 ${APP_DIR}
cat > ${COMPOSE_FILE_PATH} <<'${delimiter}'
${composeYaml.replace(/\n$/, '')}
${delimiter}

# The users list: written once as base64, decoded to users.csv and handed to compose as APP_USERS_B64.
APP_USERS_B64='${usersB64}'
(
  umask 077
  printf '%s' "$APP_USERS_B64" | base64 -d > ${USERS_CSV_PATH}
  printf '${USERS_ENV_NAME}=%s\\n' "$APP_USERS_B64" > ${COMPOSE_ENV_PATH}
)
chmod 0600 ${USERS_CSV_PATH} ${COMPOSE_ENV_PATH}

echo "provisioning job \${JOB_ID}: starting containers"
cd ${APP_DIR}
retry docker compose --project-directory ${APP_DIR} -f ${COMPOSE_FILE_PATH} pull
docker compose --project-directory ${APP_DIR} -f ${COMPOSE_FILE_PATH} up -d
docker compose --project-directory ${APP_DIR} -f ${COMPOSE_FILE_PATH} ps

marker "PROVISIONING-SUCCESS job=\${JOB_ID}"
`;
}

export interface RenderedUserData {
  /** What goes to Terraform: the script itself, or base64 of its gzip. */
  script: string;
  encoding: 'plain' | 'gzip+base64';
  /** Size EC2 counts against its limit: the script, or the gzip bytes. */
  bytes: number;
}

export interface UserDataInput {
  jobId: string;
  containers: readonly ContainerSpec[];
  /** Canonical users CSV (as the job spec stores it); absent or "" means no users, header only. */
  usersCsv?: string;
}

export function renderUserData({ jobId, containers, usersCsv }: UserDataInput): RenderedUserData {
  if (!JOB_ID.test(jobId)) throw new Error(`jobId "${jobId}" may only contain letters, digits, _ and - (1-64 characters)`);
  // An empty APP_USERS_B64 would stop compose (see renderComposeYaml); no users is a header-only file.
  const csv = usersCsv && usersCsv.trim() !== '' ? usersCsv : usersToCsv([]);
  const script = userDataScript(jobId, renderComposeYaml(containers), Buffer.from(csv, 'utf8').toString('base64'));
  const plainBytes = Buffer.byteLength(script, 'utf8');
  if (plainBytes <= USER_DATA_LIMIT_BYTES) return { script, encoding: 'plain', bytes: plainBytes };

  // cloud-init recognises gzip by its magic bytes and unpacks it before running the script.
  const gz = gzipSync(Buffer.from(script, 'utf8'), { level: 9 });
  if (gz.length > USER_DATA_LIMIT_BYTES) {
    throw new Error(
      `user data is too large: ${gz.length} bytes even after gzip (${plainBytes} bytes uncompressed); ` +
        `EC2 allows ${USER_DATA_LIMIT_BYTES} bytes. Make the users CSV or the containers' environment smaller`,
    );
  }
  return { script: gz.toString('base64'), encoding: 'gzip+base64', bytes: gz.length };
}

/** The variables of terraform/variables.tf; names must match it (tests check). */
export interface AwsModuleTfvars {
  job_id: string;
  job_name: string;
  requester: string;
  region: string;
  instance_type: string;
  volume_size_gb: number;
  ami_id: string;
  vpc_id: string;
  subnet_id: string;
  security_group_ids: string[];
  ingress_cidr: string;
  ssh_cidr: string;
  published_ports: { port: number; protocol: 'tcp' | 'udp'; container: string }[];
  metadata_hop_limit: number;
  user_data: string;
  user_data_base64: string;
  created_by: string;
}

export interface TfvarsInput {
  jobId: string;
  /** The stored (public) spec is enough: credentials never reach tfvars. */
  spec: Pick<JobSpec | PublicJobSpec, 'name' | 'requesterEmail' | 'region' | 'network' | 'instance' | 'containers'>;
  /** The AMI the pre-flight resolved (the spec's own, or the latest Amazon Linux 2023). */
  amiId: string;
  userData: RenderedUserData;
  /** Who created the job in the service (user or API token name); tagged when given. */
  createdBy?: string;
}

/** terraform.tfvars.json for the AWS module. "" means "not given" for the optional strings. */
export function renderTfvars({ jobId, spec, amiId, userData, createdBy }: TfvarsInput): AwsModuleTfvars {
  return {
    job_id: jobId,
    job_name: spec.name,
    requester: spec.requesterEmail,
    region: spec.region,
    instance_type: spec.instance.type,
    volume_size_gb: spec.instance.volumeSizeGb,
    ami_id: amiId,
    vpc_id: spec.network?.vpcId ?? '',
    subnet_id: spec.network?.subnetId ?? '',
    security_group_ids: [...(spec.network?.securityGroupIds ?? [])],
    ingress_cidr: spec.instance.ingressCidr,
    ssh_cidr: spec.instance.sshCidr ?? '',
    // The module's variable takes exactly these attributes.
    published_ports: publishedPorts(spec.containers).map(({ port, protocol, container }) => ({ port, protocol, container })),
    metadata_hop_limit: spec.instance.metadataHopLimit2 ? 2 : 1,
    user_data: userData.encoding === 'plain' ? userData.script : '',
    user_data_base64: userData.encoding === 'gzip+base64' ? userData.script : '',
    created_by: createdBy ?? '',
  };
}
