import { gzipSync } from 'node:zlib';
import { APP_DIR, USERS_CSV_PATH, USERS_ENV_NAME, USERS_FILE_ENV_NAME, type ContainerSpec } from './containers.js';
import { ARTIFACT_FILES, checkArtifacts, checkJobId, renderArtifactFiles, type UserDataArtifacts } from './instanceArtifacts.js';
import { EVENT_PREFIX, FAILURE_PREFIX, SUCCESS_PREFIX } from './instanceEvents.js';

/**
 * What the instance runs at first boot: the compose file, the users file and
 * the script that installs Docker, pulls, starts and watches the containers,
 * reporting each phase as a line the ready step reads (instanceEvents.ts).
 * Pure: the job spec's size check and the render activity both call it.
 *
 * Container environment values travel here in clear (EC2 user data is
 * readable by anyone with ec2:DescribeInstanceAttribute and from inside the
 * instance): not a place for secrets. The script never prints them.
 */

/** EC2's limit on raw (decoded) user data. */
export const USER_DATA_LIMIT_BYTES = 16_384;
/** Under Linux's 128 KiB for one variable (MAX_ARG_STRLEN), with room for the name. */
export const MAX_USERS_ENV_BYTES = 120_000;
export const PROVISIONING_LOG = '/var/log/provisioning.log';
/** AL2023 packages Docker but not the compose plugin; this release is fetched from GitHub there. */
export const COMPOSE_PLUGIN_VERSION = 'v2.29.7';

function heredocDelimiter(body: string) {
  const lines = new Set(body.split('\n'));
  let delimiter = 'COMPOSE_EOF';
  for (let i = 1; lines.has(delimiter); i++) delimiter = `COMPOSE_EOF_${i}`;
  return delimiter;
}

/** Names are DNS labels and images validated references: neither can leave single quotes. */
const bashArray = (values: readonly string[]) => `(${values.map((v) => `'${v}'`).join(' ')})`;

/** The files phase with both files embedded: the compose file through a heredoc, the users list as base64. */
function embeddedFilesPhase(composeYaml: string, usersB64: string) {
  const delimiter = heredocDelimiter(composeYaml);
  return `PHASE=files
install -d -m 0755 "$APP"
cat > "$APP/docker-compose.yml" <<'${delimiter}'
${composeYaml.replace(/\n$/, '')}
${delimiter}

# The users list: written once as base64, decoded to users.csv and handed to compose as APP_USERS_B64.
APP_USERS_B64='${usersB64}'
(
  umask 077
  printf '%s' "$APP_USERS_B64" | base64 -d > "$APP/users.csv"
  printf '${USERS_ENV_NAME}=%s\\n' "$APP_USERS_B64" > "$APP/.env"
)
chmod 0600 "$APP/users.csv" "$APP/.env"
`;
}

/**
 * The files phase of ARTIFACTS_BUCKET: both files are fetched from the job's own prefix in S3
 * with the instance role (which may read that prefix only), and APP_USERS_B64 is computed here.
 */
function s3FilesPhase({ bucket, keyPrefix, region }: UserDataArtifacts) {
  return `PHASE=files
install -d -m 0755 "$APP"

# The compose file and the users list wait in S3 (they may be larger than user data allows).
ARTIFACTS_BUCKET='${bucket}'
ARTIFACTS_PREFIX='${keyPrefix}'
ARTIFACTS_REGION='${region}'

install_aws_cli() {
  if command -v aws >/dev/null 2>&1; then
    return 0
  fi
  # Amazon Linux 2023 ships the AWS CLI v2; other AMIs may not.
  if command -v dnf >/dev/null 2>&1; then
    retry dnf install -y awscli-2
  elif command -v apt-get >/dev/null 2>&1; then
    retry apt-get install -y awscli
  fi
  if ! command -v aws >/dev/null 2>&1; then
    echo "the AWS CLI (aws) is not installed on this AMI and could not be installed" >&2
    return 1
  fi
}

fetch_artifact() {
  aws s3 cp --only-show-errors --region "$ARTIFACTS_REGION" "s3://\${ARTIFACTS_BUCKET}/\${ARTIFACTS_PREFIX}/$1" "$APP/$1"
}

PHASE=artifacts
echo "provisioning job \${JOB_ID}: fetching the compose file and the users list from s3://\${ARTIFACTS_BUCKET}/\${ARTIFACTS_PREFIX}/"
if ! out=$(install_aws_cli 2>&1); then
  report ${EVENT_PREFIX} phase artifacts status failed error "$(tail_of "$out" | tail -n 1)"
  fail "" "" "the AWS CLI is needed to fetch the job's files from S3" "$(tail_of "$out")"
fi
for file in ${ARTIFACT_FILES.join(' ')}; do
  # The instance role's permissions can take a moment to reach S3 after launch: retried.
  if ! out=$(umask 077 && retry fetch_artifact "$file" 2>&1); then
    report ${EVENT_PREFIX} phase artifacts status failed file "$file" error "$(tail_of "$out" | tail -n 1)"
    fail "" "" "s3://\${ARTIFACTS_BUCKET}/\${ARTIFACTS_PREFIX}/$file could not be fetched" "$(tail_of "$out")"
  fi
done
chmod 0644 "$APP/docker-compose.yml"
# Linux passes one environment variable of at most 128 KiB to a process: a longer list would keep
# every container from starting, so it goes as the file alone (mounted in each, named by ${USERS_FILE_ENV_NAME}).
users_b64=$(base64 -w0 < "$APP/users.csv")
if [ "\${#users_b64}" -gt ${MAX_USERS_ENV_BYTES} ]; then
  users_b64=''
  report ${EVENT_PREFIX} phase artifacts note "the users list is too large for ${USERS_ENV_NAME} (over ${MAX_USERS_ENV_BYTES} bytes): containers get it as ${USERS_CSV_PATH} only"
fi
(
  umask 077
  printf '${USERS_ENV_NAME}=%s\\n' "$users_b64" > "$APP/.env"
)
chmod 0600 "$APP/users.csv" "$APP/.env"
report ${EVENT_PREFIX} phase artifacts status ok
`;
}

function userDataScript(
  jobId: string,
  containers: readonly ContainerSpec[],
  filesPhase: string,
  about = '# Container environment values travel in clear here: not a place for secrets.',
) {
  return `#!/bin/bash
# First-boot script for provisioning job ${jobId}, rendered by the provisioning service.
${about}
set -euo pipefail
# ERR traps also fire inside functions.
set -o errtrace

JOB_ID='${jobId}'
COMPOSE_VERSION='${COMPOSE_PLUGIN_VERSION}'
CONTAINERS=${bashArray(containers.map((c) => c.name))}
IMAGES=${bashArray(containers.map((c) => c.image))}
HEALTHCHECKED=${bashArray(containers.map((c) => (c.healthcheck ? '1' : '0')))}
# Unset on EC2; a test harness runs the same script in a scratch directory.
ROOT="\${PROVISIONING_ROOT:-}"
APP="$ROOT${APP_DIR}"
LOG="$ROOT${PROVISIONING_LOG}"
CONSOLE="\${PROVISIONING_CONSOLE:-/dev/console}"
RETRY_DELAY="\${PROVISIONING_RETRY_DELAY:-5}"
# How long containers run before their state counts, and how long healthchecks may take.
SETTLE="\${PROVISIONING_SETTLE_SECONDS:-15}"
HEALTH_WAIT="\${PROVISIONING_HEALTH_WAIT_SECONDS:-300}"
PHASE=start

mkdir -p "$(dirname "$LOG")"
exec > >(tee -a "$LOG") 2>&1

# One line, bounded, with no control characters: what a JSON string may hold.
json_escape() {
  local s=\${1:0:1200}
  s=\${s//\\\\/\\\\\\\\}
  s=\${s//\\"/\\\\\\"}
  s=\${s//$'\\n'/\\\\n}
  printf '%s' "$s" | tr -d '\\000-\\037\\177'
}

# A phase line for the service (instanceEvents.ts): on the output (the console, via cloud-init)
# and straight to the console, so it shows even when cloud-init keeps the output to itself.
report() {
  local kind=$1 json='{' sep=''
  shift
  while [ $# -ge 2 ]; do
    json+="$sep\\"$1\\":\\"$(json_escape "$2")\\""
    sep=','
    shift 2
  done
  json+='}'
  echo "$kind job=\${JOB_ID} $json"
  echo "$kind job=\${JOB_ID} $json" >> "$CONSOLE" 2>/dev/null || true
}

# The last lines of a command's output, each cut short: the part of it a failure line carries.
tail_of() {
  printf '%s' "$1" | tail -n 10 | cut -c1-200
}

fail() {
  trap - ERR
  report ${FAILURE_PREFIX} phase "$PHASE" container "$1" image "$2" reason "$3" output "$4"
  exit 1
}

on_error() {
  local rc=$? line=$1
  trap - ERR
  report ${FAILURE_PREFIX} phase "$PHASE" reason "the first-boot script stopped at line $line (exit $rc); see $LOG"
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
    sleep $((attempt * RETRY_DELAY))
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
}

compose() {
  docker compose --project-directory "$APP" -f "$APP/docker-compose.yml" "$@"
}

# status exit-code restart-count health ("none" without a healthcheck) of one service's container.
container_state() {
  local id
  id=$(compose ps -q --all "$1" | head -n 1)
  if [ -z "$id" ]; then
    echo "missing 0 0 none"
    return 0
  fi
  docker inspect --format '{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id"
}

logs_of() {
  compose logs --no-color --tail 10 "$1" 2>&1 || true
}

PHASE=docker
echo "provisioning job \${JOB_ID}: installing Docker"
install_docker
report ${EVENT_PREFIX} phase docker status ok version "$(docker --version 2>/dev/null | head -n 1)"

PHASE=compose
install_compose_plugin
report ${EVENT_PREFIX} phase compose status ok version "$(docker compose version --short 2>/dev/null | head -n 1)"

${filesPhase}
PHASE=pull
echo "provisioning job \${JOB_ID}: pulling images"
for i in "\${!CONTAINERS[@]}"; do
  name=\${CONTAINERS[$i]}
  image=\${IMAGES[$i]}
  if out=$(retry docker pull "$image" 2>&1); then
    digest=$(docker image inspect --format '{{index .RepoDigests 0}}' "$image" 2>/dev/null || true)
    report ${EVENT_PREFIX} phase pull container "$name" image "$image" status ok digest "$digest"
  else
    report ${EVENT_PREFIX} phase pull container "$name" image "$image" status failed error "$(tail_of "$out" | tail -n 1)"
    fail "$name" "$image" "the image could not be pulled" "$(tail_of "$out")"
  fi
done

PHASE=up
echo "provisioning job \${JOB_ID}: starting containers"
cd "$APP"
if ! out=$(compose up -d 2>&1); then
  fail "" "" "docker compose up failed" "$(tail_of "$out")"
fi
report ${EVENT_PREFIX} phase up status ok

# A container that exits at start, or keeps restarting, is not running: give them a moment to show it.
PHASE=container
sleep "$SETTLE"
for i in "\${!CONTAINERS[@]}"; do
  name=\${CONTAINERS[$i]}
  image=\${IMAGES[$i]}
  read -r status code restarts health <<<"$(container_state "$name")"
  if [ "$status" != running ] || [ "$restarts" != 0 ]; then
    report ${EVENT_PREFIX} phase container container "$name" image "$image" state "$status" exit "$code"
    fail "$name" "$image" "the container is $status (exit code $code, restarted $restarts times)" "$(tail_of "$(logs_of "$name")")"
  fi
  report ${EVENT_PREFIX} phase container container "$name" image "$image" state running
done

PHASE=health
deadline=$((SECONDS + HEALTH_WAIT))
for i in "\${!CONTAINERS[@]}"; do
  [ "\${HEALTHCHECKED[$i]}" = 1 ] || continue
  name=\${CONTAINERS[$i]}
  image=\${IMAGES[$i]}
  while :; do
    read -r status code restarts health <<<"$(container_state "$name")"
    case "$health" in
      healthy)
        report ${EVENT_PREFIX} phase health container "$name" image "$image" health healthy
        break
        ;;
      unhealthy)
        report ${EVENT_PREFIX} phase health container "$name" image "$image" health unhealthy
        fail "$name" "$image" "the container is unhealthy (its healthcheck failed)" "$(tail_of "$(logs_of "$name")")"
        ;;
    esac
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail "$name" "$image" "the container was not healthy within $HEALTH_WAIT s (health: $health)" "$(tail_of "$(logs_of "$name")")"
    fi
    sleep 2
  done
done

compose ps
report ${SUCCESS_PREFIX} containers "\${#CONTAINERS[@]}"
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
  /**
   * ARTIFACTS_BUCKET: the compose file and the users CSV are not embedded; the script fetches
   * them from s3://bucket/keyPrefix/ at boot (renderArtifactFiles says what the service uploads there).
   */
  artifacts?: UserDataArtifacts;
}

export class UserDataTooLargeError extends Error {
  readonly type = 'UserDataTooLarge';
  constructor(
    readonly bytes: number,
    readonly uncompressedBytes: number,
  ) {
    super(
      `user data is too large: ${bytes} bytes even after gzip (${uncompressedBytes} bytes uncompressed); ` +
        `EC2 allows ${USER_DATA_LIMIT_BYTES} bytes. Make the users CSV or the containers' environment smaller`,
    );
  }
}

export function renderUserData({ jobId, containers, usersCsv, artifacts }: UserDataInput): RenderedUserData {
  checkJobId(jobId);
  let script: string;
  if (artifacts) {
    checkArtifacts(artifacts);
    script = userDataScript(
      jobId,
      containers,
      s3FilesPhase(artifacts),
      '# The compose file and the users list are fetched from S3 at boot; container environment values are no secrets.',
    );
  } else {
    const files = renderArtifactFiles({ containers, usersCsv });
    const usersB64 = Buffer.from(files['users.csv'], 'utf8').toString('base64');
    script = userDataScript(jobId, containers, embeddedFilesPhase(files['docker-compose.yml'], usersB64));
  }
  const plainBytes = Buffer.byteLength(script, 'utf8');
  if (plainBytes <= USER_DATA_LIMIT_BYTES) return { script, encoding: 'plain', bytes: plainBytes };

  // cloud-init recognises gzip by its magic bytes and unpacks it before running the script.
  const gz = gzipSync(Buffer.from(script, 'utf8'), { level: 9 });
  if (gz.length > USER_DATA_LIMIT_BYTES) throw new UserDataTooLargeError(gz.length, plainBytes);
  return { script: gz.toString('base64'), encoding: 'gzip+base64', bytes: gz.length };
}
