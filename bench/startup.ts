import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../src/temporal/devServer.js';
import { register, ROOT } from './lib/processes.js';
import { row, type Row } from './lib/report.js';
import { prepareDataDir, startApp, type Infra } from './lib/stack.js';
import { median, sec } from './lib/stats.js';

/**
 * Workload 9: start-up on a warm machine. `npm start` (its set-up check, the
 * embedded Temporal dev server, migrations, worker and web in one process)
 * until `/health` answers 200; and the compiled
 * worker and web alone (`npm run worker` / `npm run web`'s node command), each
 * until it can take work: the worker polling, the web healthy. Medians of a
 * few starts, each on a fresh data directory.
 */

const W = '9 start-up';

async function healthy(url: string, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
      await res.body?.cancel();
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${url}/health not 200 in time`);
}

/**
 * One `npm start`: ms to /health 200. Its worker is created and polling before
 * its web listens (src/main.ts starts them in that order), so that is both.
 */
async function npmStartOnce(root: string, i: number): Promise<number> {
  const dir = path.join(root, `npm-start-${i}`);
  fs.mkdirSync(dir, { recursive: true });
  const [port, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
  const t0 = Date.now();
  const child = spawn('npm', ['start'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      NODE_ENV: 'development',
      DATA_DIR: dir,
      PORT: String(port),
      TEMPORAL_DEV_PORT: String(temporalPort),
      TEMPORAL_DEV_UI_PORT: String(uiPort),
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      TEMPORAL_TASK_QUEUE: `bench-startup-${i}`,
      LOG_LEVEL: 'info',
    },
  });
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, s);
    } catch {
      // the group is gone already
    }
  };
  const stop = async () => {
    const exited = child.exitCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
    // Ctrl-C as a terminal sends it: to the group (npm, tsx, node, the dev server stop in order).
    signal('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    // Whatever outlived the stop (npm may exit before its children).
    await new Promise((r) => setTimeout(r, 500));
    signal('SIGKILL');
  };
  const forget = register({ name: 'npm start', stop });
  let output = '';
  const onData = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  try {
    await healthy(`http://127.0.0.1:${port}`, t0 + 60_000).catch((err) => {
      throw new Error(`${(err as Error).message}: ${output.slice(-800)}`);
    });
    return Date.now() - t0;
  } finally {
    await stop();
    forget();
  }
}

export async function runStartup(infra: Infra, opts: { runs: number }): Promise<Row[]> {
  const npmHealth: number[] = [];
  const worker: number[] = [];
  const web: number[] = [];
  for (let i = 0; i < opts.runs; i++) {
    npmHealth.push(await npmStartOnce(infra.root, i));
    infra.log(`startup: npm start ${i + 1}: /health 200 (its worker polling) after ${sec(npmHealth.at(-1)!)}`);

    // The compiled processes alone, on an already migrated database (as a restart would find it).
    const dataDir = path.join(infra.root, `startup-${i}`, 'data');
    await prepareDataDir(dataDir);
    let t0 = Date.now();
    const w = await startApp(infra, { name: `startup-${i}-worker`, web: false, dataDir });
    worker.push(Date.now() - t0);
    t0 = Date.now();
    const a = await startApp(infra, { name: `startup-${i}-web`, worker: false, dataDir });
    web.push(Date.now() - t0);
    await a.stop();
    await w.stop();
    infra.log(`startup: compiled worker polling after ${sec(worker.at(-1)!)}, compiled web healthy after ${sec(web.at(-1)!)}`);
  }
  const runs = `median of ${opts.runs}`;
  return [
    row(W, `npm start → /health 200 (warm machine), ${runs}`, sec(median(npmHealth)), '≤ 3 s', median(npmHealth) <= 3_000),
    row(
      W,
      `compiled worker start → polling (ready to take a task), ${runs}`,
      sec(median(worker)),
      '≤ 2 s',
      median(worker) <= 2_000,
    ),
    row(W, `compiled web start → /health 200, ${runs}`, sec(median(web))),
  ];
}
