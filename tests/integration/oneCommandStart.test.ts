import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/temporal/devServer.js';
import { tempDir } from '../support/tempDb.js';
import { collectOutput, descendants, isAlive, ROOT, runTsx, waitExit, waitFor } from '../support/processes.js';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function commandOf(pid: number): string {
  try {
    return execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

describe('npm start', () => {
  it('runs src/main.ts', () => {
    expect(pkg.scripts.start).toBe('tsx src/main.ts');
  });

  it('leaves the Temporal CLI to the service at start, and still checks it in `npm run setup`', () => {
    // The service finds or builds the CLI as it starts its server: its set-up step need not look too.
    const setup = (event: string) => {
      const env: NodeJS.ProcessEnv = { ...process.env, npm_lifecycle_event: event, TEMPORAL_CLI_PATH: inject('temporalCliPath') };
      delete env.TEMPORAL_ADDRESS;
      return spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'setup.mjs')], { cwd: ROOT, env, encoding: 'utf8' });
    };
    const atStart = setup('prestart');
    expect(atStart.status).toBe(0);
    expect(atStart.stderr).not.toMatch(/Temporal CLI:/);
    const bySetup = setup('setup');
    expect(bySetup.status).toBe(0);
    expect(bySetup.stderr).toContain(`Temporal CLI: ${inject('temporalCliPath')}`);
  });

  it('brings up Temporal, worker and web; Ctrl-C stops every child', async () => {
    const dataDir = tempDir('prov-start-');
    dirs.push(dataDir);
    const [port, tPort, uiPort] = [await freePort(), await freePort(), await freePort()];
    const child = runTsx(
      'src/main.ts',
      {
        DATA_DIR: dataDir,
        PORT: String(port),
        TEMPORAL_DEV_PORT: String(tPort),
        TEMPORAL_DEV_UI_PORT: String(uiPort),
        TEMPORAL_CLI_PATH: inject('temporalCliPath'),
      },
      { detached: true },
    );
    const out = collectOutput(child);
    try {
      const health = await waitFor(
        'health 200',
        async () => {
          if (child.exitCode !== null) throw new Error(`exited early: ${out.text()}`);
          const res = await fetch(`http://127.0.0.1:${port}/health`);
          return res.status === 200 ? ((await res.json()) as Record<string, string>) : undefined;
        },
        90_000,
        250,
      );
      expect(health).toMatchObject({ db: 'ok', temporal: 'ok' });
      // The UI is served by the web app at /temporal, behind its sign-in, with the codec on the same origin.
      const ui = await fetch(`http://127.0.0.1:${uiPort}/temporal/`);
      expect(ui.status).toBe(200);
      const web = `http://127.0.0.1:${port}`;
      const closed = await fetch(`${web}/temporal/`, { headers: { accept: 'text/html' }, redirect: 'manual' });
      expect(closed.status).toBe(302);
      expect(closed.headers.get('location')).toBe(`/login?next=${encodeURIComponent('/temporal/')}`);
      const admin = { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` };
      const page = await fetch(`${web}/temporal/`, { headers: admin });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('base: "/temporal"');
      const settings = (await (await fetch(`${web}/temporal/api/v1/settings`, { headers: admin })).json()) as {
        Codec: { Endpoint: string };
      };
      expect(settings.Codec.Endpoint).toBe('/codec');
      expect(fs.existsSync(path.join(dataDir, 'temporal.db'))).toBe(true);
      expect(fs.existsSync(path.join(dataDir, 'app.db'))).toBe(true);

      const children = descendants(child.pid!);
      expect(children.map(commandOf).some((c) => /temporal server start-dev/.test(c))).toBe(true);
      // Ctrl-C in a terminal signals the whole foreground process group.
      process.kill(-child.pid!, 'SIGINT');
      expect(await waitExit(child, 60_000)).toBe(0);
      await waitFor('every child to exit', () => children.every((pid) => !isAlive(pid)), 10_000);
      expect(out.text()).toMatch(/stopped/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('connects to TEMPORAL_ADDRESS instead of starting its own server', async () => {
    const dataDir = tempDir('prov-start-');
    dirs.push(dataDir);
    const port = await freePort();
    const child = runTsx('src/main.ts', {
      DATA_DIR: dataDir,
      PORT: String(port),
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: `start-test-${process.pid}`,
    });
    const out = collectOutput(child);
    try {
      await waitFor(
        'health 200',
        async () => {
          if (child.exitCode !== null) throw new Error(`exited early: ${out.text()}`);
          return (await fetch(`http://127.0.0.1:${port}/health`)).status === 200;
        },
        60_000,
        250,
      );
      const commands = descendants(child.pid!).map(commandOf);
      expect(commands.some((c) => /temporal server/.test(c))).toBe(false);
      expect(fs.existsSync(path.join(dataDir, 'temporal.db'))).toBe(false);
      child.kill('SIGTERM');
      expect(await waitExit(child, 60_000)).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('reports Temporal as down with 503 when it cannot be reached', async () => {
    const dataDir = tempDir('prov-start-');
    dirs.push(dataDir);
    const [port, deadPort] = [await freePort(), await freePort()];
    const child = runTsx('src/api/server.ts', {
      DATA_DIR: dataDir,
      PORT: String(port),
      TEMPORAL_ADDRESS: `127.0.0.1:${deadPort}`,
    });
    const out = collectOutput(child);
    try {
      const body = await waitFor(
        'health answer',
        async () => {
          if (child.exitCode !== null) throw new Error(`exited early: ${out.text()}`);
          const res = await fetch(`http://127.0.0.1:${port}/health`);
          return { status: res.status, json: (await res.json()) as Record<string, string> };
        },
        30_000,
        250,
      );
      expect(body.status).toBe(503);
      expect(body.json.db).toBe('ok');
      expect(body.json.temporal).toMatch(/^down/);
    } finally {
      child.kill('SIGTERM');
      await waitExit(child, 20_000).catch(() => child.kill('SIGKILL'));
    }
  });

  it('exits non-zero naming the variable when the configuration is wrong', async () => {
    for (const [env, expected] of [
      [{ ALLOWED_INSTANCE_TYPES: 't3.mega' }, /ALLOWED_INSTANCE_TYPES: .*"t3.mega" is not an EC2 instance type/],
      [{ EMAIL_PROVIDER: 'smtp' }, /SMTP_HOST: required when EMAIL_PROVIDER=smtp/],
    ] as const) {
      const child = runTsx('src/main.ts', { DATA_DIR: tempDir('prov-cfg-'), ...env });
      const out = collectOutput(child);
      const code = await waitExit(child, 30_000);
      expect(code).not.toBe(0);
      expect(out.text()).toMatch(expected);
    }
  });
});
