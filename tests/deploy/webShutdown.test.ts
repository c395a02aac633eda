import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { insertJob } from '../../src/db/jobs.js';
import { appendLogLines } from '../../src/db/logs.js';
import { WEB_SHUTDOWN_GRACE_MS } from '../../src/api/server.js';
import { createTempDb } from '../support/tempDb.js';
import { freePort } from '../support/moto.js';
import { TEST_SECRET_KEY } from '../support/worker.js';
import { ROOT, childEnv, collectOutput, waitExit, waitFor } from '../support/processes.js';

/**
 * SIGTERM to the web service started as production starts it (`npm run web`):
 * it stops accepting at once, serves what is in flight — here a live log
 * stream, which keeps delivering lines — for the grace period, then cuts what
 * is left (browsers reconnect and resume by Last-Event-ID) and exits 0.
 */

const TOKEN = 'web-shutdown-token-0123456789';
let temp: Awaited<ReturnType<typeof createTempDb>>;
let web: ChildProcess | undefined;

beforeAll(async () => {
  temp = await createTempDb();
}, 30_000);

afterAll(async () => {
  if (web && web.exitCode === null) web.kill('SIGKILL');
  await temp?.cleanup();
});

describe('SIGTERM to the web service', () => {
  it('stops accepting, lets an open log stream run for the grace period, then exits 0', async () => {
    const now = new Date().toISOString();
    const job = await insertJob(temp.db, {
      id: 'web-shutdown-job',
      name: 'web-shutdown',
      status: 'running',
      step: 'apply',
      requester_email: 'alice@example.com',
      region: 'us-east-1',
      instance_type: 't3.micro',
      auth_method: 'assume_role',
      spec_json: '{}',
      created_at: now,
      updated_at: now,
    });
    const port = await freePort();
    web = spawn('npm', ['run', '--silent', 'web'], {
      cwd: ROOT,
      env: childEnv({
        DATABASE_URL: `sqlite:${temp.file}`,
        DATA_DIR: temp.dir,
        HOST: '127.0.0.1',
        PORT: String(port),
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        SECRET_KEY: TEST_SECRET_KEY,
        API_TOKENS: TOKEN,
        LOG_LEVEL: 'info',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = collectOutput(web);
    const base = `http://127.0.0.1:${port}`;
    await waitFor(
      'web to listen',
      async () => {
        if (web!.exitCode !== null) throw new Error(`web exited: ${out.text()}`);
        return (await fetch(`${base}/health`).catch(() => undefined))?.status === 200;
      },
      60_000,
      200,
    );

    const res = await fetch(`${base}/api/jobs/${job.id}/logs/stream`, {
      headers: { authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' },
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let received = '';
    let streamEndedAt: number | undefined;
    const reading = (async () => {
      const decoder = new TextDecoder();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          received += decoder.decode(value, { stream: true });
        }
      } catch {
        // cut by the server
      }
      streamEndedAt = Date.now();
    })();
    await waitFor('the stream to send the status', () => received.includes('event: status'), 10_000, 50);

    const sentAt = Date.now();
    web.kill('SIGTERM');
    // New connections are refused at once (a fresh TCP connection each try, no pooled keep-alive).
    await waitFor('new connections to be refused', () => refused(port), 5_000, 50);
    // The open stream is still served: a line stored now reaches it.
    await appendLogLines(temp.db, job.id, [
      { step: 'apply', attempt: 1, stream: 'stdout', lineNo: 1, line: 'written during shutdown', ts: new Date().toISOString() },
    ]);
    await waitFor('the line to arrive on the open stream', () => received.includes('written during shutdown'), 5_000, 50);
    expect(streamEndedAt).toBeUndefined();

    expect(await waitExit(web, WEB_SHUTDOWN_GRACE_MS + 15_000), out.text()).toBe(0);
    await reading;
    const streamFor = streamEndedAt! - sentAt;
    expect(streamFor).toBeGreaterThanOrEqual(WEB_SHUTDOWN_GRACE_MS - 1_000);
    expect(streamFor).toBeLessThan(WEB_SHUTDOWN_GRACE_MS + 10_000);
    // The request log line for the stream, with its latency, and no credential in any line.
    expect(out.text()).toMatch(/"route":"\/api\/jobs\/:id\/logs\/stream"/);
    expect(out.text()).not.toContain(TOKEN);
  }, 90_000);
});

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}
