import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { TEMPORAL_UI_PATH } from '../config.js';
import { devServerSearchAttributeArgs, type WantedAttributes } from './searchAttributeRegistration.js';

export interface DevServerOptions {
  cliPath: string;
  port: number;
  uiPort: number;
  /** SQLite file that persists the dev server's state across restarts; omit for in-memory. */
  dbFile?: string;
  namespace?: string;
  host?: string;
  startTimeoutMs?: number;
  /**
   * Our /codec endpoint, so Temporal UI shows decrypted (and redacted) payloads. A path (`/codec`)
   * is fetched from the origin the UI is served on, which is ours when the web app proxies the UI.
   */
  codecEndpoint?: string;
  /** The path the UI serves under (`/temporal` behind the web app's proxy); default `/`. */
  uiPublicPath?: string;
  /**
   * Registered when the server creates its database (an existing `dbFile` keeps what it has:
   * the workers add what is missing); default the service's own.
   */
  searchAttributes?: WantedAttributes;
  log?: (line: string) => void;
}

/**
 * How `npm start` runs the embedded UI: under /temporal, where the web app
 * serves it to signed-in people (TEMPORAL_UI_UPSTREAM), and with a codec
 * endpoint that is a path, so the browser calls /codec on the origin it got
 * the UI from, with the session of whoever is signed in there.
 */
export const PROXIED_UI: Pick<DevServerOptions, 'uiPublicPath' | 'codecEndpoint'> = {
  uiPublicPath: TEMPORAL_UI_PATH,
  codecEndpoint: '/codec',
};

export interface DevServer {
  address: string;
  /** The UI's origin (its pages are under `uiPublicPath` there): what a proxy forwards to. */
  uiUrl: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function waitForPort(port: number, host: string, timeoutMs: number, isDead: () => string | null): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const dead = isDead();
      if (dead) return reject(new Error(dead));
      const socket = net.connect({ port, host });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

/** Stops a child gracefully (SIGTERM), then SIGKILL after `graceMs`. */
export function stopChild(child: ChildProcess, graceMs = 10_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const host = opts.host ?? '127.0.0.1';
  const args = [
    'server',
    'start-dev',
    '--ip',
    host,
    '--port',
    String(opts.port),
    '--ui-port',
    String(opts.uiPort),
    '--namespace',
    opts.namespace ?? 'default',
    '--log-level',
    'warn',
  ];
  args.push(...devServerSearchAttributeArgs(opts.searchAttributes));
  if (opts.codecEndpoint) args.push('--ui-codec-endpoint', opts.codecEndpoint);
  if (opts.uiPublicPath) args.push('--ui-public-path', opts.uiPublicPath);
  if (opts.dbFile) {
    fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true });
    args.push('--db-filename', opts.dbFile);
  }
  // Own process group: a terminal's Ctrl-C reaches only us, and we stop the
  // server last, after the worker has drained.
  const child = spawn(opts.cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  let exitInfo: string | null = null;
  let tail = '';
  // A Go panic's first line says why; the goroutine dump after it would push it out of the tail.
  let panicLine: string | null = null;
  const collect = (chunk: Buffer) => {
    const text = chunk.toString();
    tail = (tail + text).slice(-4000);
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      if (!panicLine && /^(panic|fatal error|Error):/.test(line)) panicLine = line.slice(0, 500);
      opts.log?.(line);
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.once('exit', (code, signal) => {
    const why = panicLine ? `${panicLine} … ` : '';
    exitInfo = `temporal dev server exited (${code ?? signal}) during start: ${why}${tail.trim().slice(-1000)}`;
  });
  try {
    await waitForPort(opts.port, host, opts.startTimeoutMs ?? 60_000, () => exitInfo);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    address: `${host}:${opts.port}`,
    uiUrl: `http://${host}:${opts.uiPort}`,
    process: child,
    stop: () => stopChild(child),
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
