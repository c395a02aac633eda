import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './moto.js';

/**
 * A throw-away Postgres server of the test's own, which the test may stop and
 * start (the shared TEST_POSTGRES_URL server must stay up for other files;
 * globalSetup starts that one with this too, when TEST_POSTGRES_URL is unset).
 * Built from the system's PostgreSQL binaries; as root, the server runs as
 * the `postgres` user, which refuses to run as root.
 */

export interface PostgresServer {
  /** postgres:// URL of the `postgres` database, as the superuser. */
  adminUrl: string;
  createDatabase(name: string): Promise<string>;
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
  destroy(): void;
}

/** The newest installed PostgreSQL's bin directory, or why there is none. */
export function findPostgresBin(): { bin: string } | { missing: string } {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length) return { bin: path.join(root, versions[0], 'bin') };
  const which = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const bin = which.status === 0 ? which.stdout.trim() : '';
  if (bin && fs.existsSync(path.join(bin, 'initdb'))) return { bin };
  return { missing: "no PostgreSQL server binaries (initdb) found: install Debian's postgresql package" };
}

export async function startPostgresServer(opts: { maxConnections?: number } = {}): Promise<PostgresServer> {
  const found = findPostgresBin();
  if ('missing' in found) throw new Error(found.missing);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prov-pg-'));
  const asRoot = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) => {
    const [file, argv] = asRoot
      ? ['runuser', ['-u', 'postgres', '--', path.join(found.bin, cmd), ...args]]
      : [path.join(found.bin, cmd), args];
    execFileSync(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  };
  if (asRoot) execFileSync('chown', ['postgres:postgres', dir]);
  const port = await freePort();
  const data = path.join(dir, 'data');
  const start = () =>
    run('pg_ctl', [
      '-D',
      data,
      '-l',
      path.join(dir, 'log'),
      '-w',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=${opts.maxConnections ?? 100}`,
      'start',
    ]);
  try {
    run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    start();
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    let log = '';
    try {
      log = fs.readFileSync(path.join(dir, 'log'), 'utf8').trim().slice(-2000);
    } catch {
      // initdb failed: no log yet
    }
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `could not start a Postgres server with ${found.bin}: ${stderr || (err as Error).message}${log ? `\n${log}` : ''}`,
    );
  }
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    adminUrl,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`create database ${name}`);
      await client.end();
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stop(mode = 'fast') {
      run('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']);
    },
    start,
    destroy() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
      } catch {
        /* not running */
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
