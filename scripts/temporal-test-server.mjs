import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Temporal's time-skipping test server, for tests of timers (TTL, warnings,
 * approval expiry) without real waits. Maven Central serves it as
 * io.temporal:temporal-test-server (the Java test server); Maven resolves it
 * and its dependencies once into ~/.m2, and a small launcher of ours
 * (LoopbackTestServer.java) serves it on 127.0.0.1 only: the server's own
 * main binds every interface. The result is an executable the SDK runs
 * through its `existing-path` option, cached outside the repository like the
 * Temporal CLI.
 */

export const TEST_SERVER_VERSION = '1.38.0';
const HERE = path.dirname(fileURLToPath(import.meta.url));
const CACHE = path.join(
  process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'),
  'provisioning-service',
  'temporal-test-server',
  TEST_SERVER_VERSION,
);
/** The executable: `<path> <port> [--enable-time-skipping]`. */
export const TEST_SERVER_PATH = path.join(CACHE, 'temporal-test-server');

const log = (msg) => process.stderr.write(`${msg}\n`);

function run(cmd, args, cwd) {
  const res = spawnSync(cmd, args, { cwd, stdio: ['ignore', process.stderr, 'inherit'] });
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${res.status ?? res.signal})`);
}

export function testServerReady() {
  return fs.existsSync(TEST_SERVER_PATH) && fs.existsSync(path.join(CACHE, 'classes', 'LoopbackTestServer.class'));
}

export function ensureTemporalTestServer() {
  if (testServerReady()) return;
  log(`Fetching Temporal's test server ${TEST_SERVER_VERSION} from Maven Central into ~/.m2 (about a minute, once)…`);
  const staging = `${CACHE}.tmp-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  try {
    fs.writeFileSync(
      path.join(staging, 'pom.xml'),
      `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>local.provisioning</groupId><artifactId>temporal-test-server</artifactId><version>1</version>
  <dependencies><dependency><groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId><version>${TEST_SERVER_VERSION}</version></dependency></dependencies>
</project>\n`,
    );
    run('mvn', ['-q', '-B', 'dependency:build-classpath', '-Dmdep.outputFile=classpath.txt'], staging);
    const classpath = fs.readFileSync(path.join(staging, 'classpath.txt'), 'utf8').trim();
    run('javac', ['-cp', classpath, '-d', path.join(staging, 'classes'), path.join(HERE, 'LoopbackTestServer.java')], staging);
    fs.writeFileSync(
      path.join(staging, 'temporal-test-server'),
      "#!/bin/sh\n# Temporal's time-skipping test server on 127.0.0.1 (scripts/temporal-test-server.mjs).\n" +
        'here="$(dirname "$0")"\nexec java -cp "$here/classes:$(cat "$here/classpath.txt")" LoopbackTestServer "$@"\n',
      { mode: 0o755 },
    );
    fs.mkdirSync(path.dirname(CACHE), { recursive: true });
    fs.rmSync(CACHE, { recursive: true, force: true });
    fs.renameSync(staging, CACHE);
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    log(
      `Could not set up Temporal's test server: ${err.message}. Check that Maven can reach Maven Central, then run npm test again.`,
    );
    process.exit(1);
  }
  log(`Temporal test server: ${TEST_SERVER_PATH}`);
}
