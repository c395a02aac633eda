import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { findPostgresBin, startPostgresServer, type PostgresServer } from './postgresServer.js';
import { waitExit, waitFor } from './processes.js';

/**
 * The production shape of Temporal, without Docker: the real server binary
 * (not the CLI's dev server) on a throw-away Postgres, its schema set up by
 * Temporal's own SQL tool, as docker-compose.yml's `temporal-schema`,
 * `temporal` and `temporal-namespace` containers do it. The binaries, the
 * versioned schemas and the example config come from `npm test`'s set-up
 * (scripts/temporal-server.mjs), which builds them once with Go.
 *
 * The same Postgres hosts the app's database (`createDatabase`), as in
 * compose, so stopping it takes both down at once. Everything listens on
 * 127.0.0.1 on free ports; the server can be SIGKILLed and started again on
 * the same ports and databases.
 */

const execFileAsync = promisify(execFile);
/** The last line the server logs while starting (its internal worker service, service/worker/service.go). */
const STARTED = '"worker service started"';

/** Where scripts/temporal-server.mjs puts them (TEMPORAL_SERVER_CACHE there; a .mjs the type check cannot import). */
export const TEMPORAL_SERVER_VERSION = 'v1.30.4';
export const TEMPORAL_SERVER_DIR = path.join(
  process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'),
  'provisioning-service',
  'temporal-server',
  TEMPORAL_SERVER_VERSION,
);
const SERVER_BIN = path.join(TEMPORAL_SERVER_DIR, 'temporal-server');
const SQL_TOOL = path.join(TEMPORAL_SERVER_DIR, 'temporal-sql-tool');

/** Why the cluster cannot run here, or undefined when it can. */
export function clusterMissing(): string | undefined {
  const pg = findPostgresBin();
  if ('missing' in pg) return pg.missing;
  if (
    !fs.existsSync(SERVER_BIN) ||
    !fs.existsSync(SQL_TOOL) ||
    !fs.existsSync(path.join(TEMPORAL_SERVER_DIR, 'provisioning-build.txt'))
  ) {
    return (
      `no Temporal server ${TEMPORAL_SERVER_VERSION} in ${TEMPORAL_SERVER_DIR}: npm test's set-up builds it with Go ` +
      '(node scripts/setup.mjs --test; without Go it says so and skips the build)'
    );
  }
  return undefined;
}

export interface TemporalCluster {
  /** host:port of the frontend, what web and workers dial. */
  address: string;
  namespace: string;
  postgres: PostgresServer;
  /** A database of the app's own in the same Postgres, as compose's POSTGRES_DB. */
  createDatabase(name: string): Promise<string>;
  /** SIGKILL of the server, `downMs` of nothing, then the same binary, config and ports again. */
  restart(downMs?: number): Promise<void>;
  /** Whether the server process runs. */
  running(): boolean;
  /** The last part of the server's stdout and stderr, for error messages. */
  output(): string;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** The Temporal CLI (the test's `inject('temporalCliPath')`): it registers the namespace, as compose's one-shot container does. */
  cliPath: string;
  namespace?: string;
}

/**
 * A bounded tail of a process's output (the server logs a lot at info, and
 * only the end explains a failure; the whole goes to `logFile`), and whether
 * `marker` has been printed.
 */
function watchOutput(child: ChildProcess, logFile: string, marker: string, limit = 64_000) {
  let tail = '';
  let seen = false;
  const file = fs.createWriteStream(logFile, { flags: 'a' });
  const add = (d: Buffer) => {
    file.write(d);
    const text = d.toString('utf8');
    // Checked on the end of the tail too, as the marker may straddle two chunks.
    if (!seen && (tail.slice(-marker.length) + text).includes(marker)) seen = true;
    tail = (tail + text).slice(-limit);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  child.once('exit', () => file.end());
  return { text: () => tail, seen: () => seen };
}

/** Whether `port` can be bound on 127.0.0.1 right now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * `n` distinct free loopback ports below 32768. Temporal keeps each member's
 * membership port in a SMALLINT column (cluster_membership.rpc_port), so a
 * port from Linux's ephemeral range (32768 and up, what port 0 gives) stops
 * the server at start ("value … is out of range for type smallint"). Below
 * that range no outgoing connection takes one of them meanwhile either.
 */
async function lowPorts(n: number, taken: Set<number>): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) {
    const p = 15_000 + Math.floor(Math.random() * (32_767 - 15_000));
    if (!taken.has(p) && !out.includes(p) && (await bindable(p))) out.push(p);
  }
  return out;
}

/**
 * The server's config: the module's development-postgres12.yaml with this
 * Postgres, this run's ports, every listener on 127.0.0.1, and the parts a
 * test has no use for left out (pprof and Prometheus, which would need ports
 * of their own; archival, which writes under /tmp).
 */
function renderConfig(opts: {
  pgPort: number;
  ports: Record<'frontend' | 'frontendHttp' | 'frontendMembership' | 'history' | 'historyMembership', number> &
    Record<'matching' | 'matchingMembership' | 'worker' | 'workerMembership', number>;
  dynamicConfigFile: string;
}): string {
  const base = parseYaml(fs.readFileSync(path.join(TEMPORAL_SERVER_DIR, 'config', 'development-postgres12.yaml'), 'utf8'));
  for (const store of Object.values(base.persistence.datastores) as { sql: Record<string, unknown> }[]) {
    // The throw-away server trusts local connections: its superuser, no password.
    Object.assign(store.sql, { connectAddr: `127.0.0.1:${opts.pgPort}`, user: 'postgres', password: '' });
  }
  base.global.membership.broadcastAddress = '127.0.0.1';
  delete base.global.pprof;
  delete base.global.metrics;
  const rpc = (grpcPort: number, membershipPort: number, extra: Record<string, number> = {}) => ({
    rpc: { grpcPort, membershipPort, bindOnLocalHost: true, ...extra },
  });
  const p = opts.ports;
  base.services = {
    frontend: rpc(p.frontend, p.frontendMembership, { httpPort: p.frontendHttp }),
    history: rpc(p.history, p.historyMembership),
    matching: rpc(p.matching, p.matchingMembership),
    worker: rpc(p.worker, p.workerMembership),
  };
  base.clusterMetadata.clusterInformation.active.rpcAddress = `127.0.0.1:${p.frontend}`;
  base.clusterMetadata.clusterInformation.active.httpAddress = `127.0.0.1:${p.frontendHttp}`;
  base.archival = { history: { state: 'disabled' }, visibility: { state: 'disabled' } };
  delete base.namespaceDefaults;
  base.dynamicConfigClient = { filepath: opts.dynamicConfigFile, pollInterval: '10s' };
  return stringifyYaml(base);
}

/** One database of Temporal's, made as compose's `temporal-schema` container makes it. */
async function setUpSchema(pgPort: number, database: 'temporal' | 'temporal_visibility', schemaDir: string) {
  const conn = ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(pgPort), '-u', 'postgres', '--db', database];
  for (const args of [['create-database'], ['setup-schema', '-v', '0.0'], ['update-schema', '-d', schemaDir]]) {
    try {
      await execFileAsync(SQL_TOOL, [...conn, ...args], { timeout: 120_000 });
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(`temporal-sql-tool ${args[0]} of ${database} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  }
}

export async function startTemporalCluster(opts: ClusterOptions): Promise<TemporalCluster> {
  const missing = clusterMissing();
  if (missing) throw new Error(missing);
  const namespace = opts.namespace ?? 'default';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prov-cluster-'));
  // Web, workers, the test's own pool and Temporal's (20 + 10 per store) all connect here.
  const postgres = await startPostgresServer({ maxConnections: 300 });
  const pgPort = Number(new URL(postgres.adminUrl).port);
  let server: ChildProcess | undefined;
  let output = () => '';
  const cleanUp = () => {
    if (server?.exitCode === null) {
      try {
        process.kill(-server.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  };
  // Should vitest end without running the file's afterAll, the server (its own group) still goes.
  process.once('exit', cleanUp);

  try {
    const schema = path.join(TEMPORAL_SERVER_DIR, 'schema', 'postgresql', 'v12');
    await Promise.all([
      setUpSchema(pgPort, 'temporal', path.join(schema, 'temporal', 'versioned')),
      setUpSchema(pgPort, 'temporal_visibility', path.join(schema, 'visibility', 'versioned')),
    ]);
  } catch (err) {
    process.off('exit', cleanUp);
    postgres.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const names = [
    'frontend',
    'frontendHttp',
    'frontendMembership',
    'history',
    'historyMembership',
    'matching',
    'matchingMembership',
    'worker',
    'workerMembership',
  ] as const;
  const pick = async (keepFrontend?: number) => {
    const ports = await lowPorts(names.length, new Set([pgPort]));
    const out = Object.fromEntries(names.map((n, i) => [n, ports[i]])) as Record<(typeof names)[number], number>;
    if (keepFrontend) out.frontend = keepFrontend;
    return out;
  };
  let ports = await pick();
  const address = `127.0.0.1:${ports.frontend}`;
  const configFile = path.join(dir, 'temporal.yaml');
  const dynamicConfigFile = path.join(dir, 'dynamicconfig.yaml');
  // Production's dynamic config is empty too (the server image's docker.yaml): nothing is tuned for the tests.
  fs.writeFileSync(dynamicConfigFile, '{}\n');
  const logFile = path.join(dir, 'temporal.log');

  const cli = async (args: string[]) => {
    const { stdout } = await execFileAsync(opts.cliPath, [...args, '--address', address], { timeout: 30_000 });
    return stdout;
  };

  const startServer = async () => {
    for (let attempt = 1; ; attempt++) {
      fs.writeFileSync(configFile, renderConfig({ pgPort, ports, dynamicConfigFile }));
      const child = spawn(SERVER_BIN, ['--config-file', configFile, '--allow-no-auth', 'start'], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      server = child;
      const watched = watchOutput(child, logFile, STARTED);
      output = watched.text;
      try {
        const state = await waitFor(
          'the Temporal server to start',
          async () => {
            if (child.exitCode !== null || child.signalCode) return `exited (${child.exitCode ?? child.signalCode})`;
            // The frontend answers before the server's own worker service is up, and that service still
            // exits (fatal "error starting scanner") if the database goes away then: wait for all of it.
            if (!watched.seen()) return false;
            return (await cli(['operator', 'cluster', 'health'])).includes('SERVING') && 'serving';
          },
          90_000,
          250,
        );
        if (state === 'serving') return;
        throw new Error(state);
      } catch (err) {
        killGroup(child);
        await waitExit(child, 10_000).catch(() => undefined);
        // A port free when picked may be taken by any process before the server binds it: the internal
        // ones move; the frontend's stays, as web and workers dial it.
        if (attempt < 3 && /address already in use/.test(output())) {
          ports = await pick(ports.frontend);
          continue;
        }
        throw new Error(`Temporal server ${(err as Error).message}; its output ends:\n${output().slice(-6_000)}`);
      }
    }
  };

  const cluster: TemporalCluster = {
    address,
    namespace,
    postgres,
    createDatabase: (name) => postgres.createDatabase(name),
    async restart(downMs = 0) {
      const old = server!;
      killGroup(old);
      await waitExit(old, 10_000);
      if (downMs) await new Promise((r) => setTimeout(r, downMs));
      await startServer();
    },
    running: () => server?.exitCode === null && !server.signalCode,
    output: () => output(),
    async stop() {
      process.off('exit', cleanUp);
      if (server && server.exitCode === null) {
        // SIGTERM is the server's graceful stop; it gets a few seconds, as `docker stop` would give it.
        server.kill('SIGTERM');
        await waitExit(server, 10_000).catch(() => killGroup(server!));
      }
      postgres.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    await startServer();
    // As compose's `temporal-namespace` container: the namespace the service uses, created once.
    await cli(['operator', 'namespace', 'create', '--namespace', namespace, '--retention', '72h']);
    await waitFor(
      'the namespace to be served',
      async () => (await cli(['workflow', 'count', '--namespace', namespace])) !== '',
      30_000,
      250,
    );
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

function killGroup(child: ChildProcess) {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    /* already gone */
  }
}
