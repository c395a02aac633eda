import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/moto.js';
import { ROOT, childEnv, collectOutput, waitExit } from '../support/processes.js';
import { tempDir } from '../support/tempDb.js';

/**
 * Packages the service needs only for some configurations or only when
 * something happens (nodemailer and the SES client for the first email, pg for
 * a Postgres database) are imported then, not when their module is: a process
 * that never sends an email or uses SQLite does not carry them (README:
 * Performance, workload 5). Each case runs in a fresh node process with
 * tests/fixtures/loadedPackages.mjs, which lists the packages it resolves.
 */

const FIXTURE = path.join(ROOT, 'tests', 'fixtures', 'loadedPackages.mjs');
let dir: string;
let smtp: SMTPServer;
let smtpPort: number;
const received: string[] = [];

beforeAll(async () => {
  dir = tempDir('prov-lazy-');
  smtpPort = await freePort();
  smtp = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    logger: false,
    onData(stream, _session, callback) {
      let raw = '';
      stream.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      stream.on('end', () => {
        received.push(raw);
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(smtpPort, '127.0.0.1', resolve));
});

afterAll(async () => {
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
  fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs `body` (TypeScript, under tsx) in a child process; `mark(name)` in it
 * snapshots the packages loaded so far. Returns the snapshots and the output.
 */
async function inChild(name: string, body: string): Promise<Record<string, string[]>> {
  const list = path.join(dir, `${name}.packages`);
  const script = path.join(dir, `${name}.mts`);
  const src = (p: string) => JSON.stringify(path.join(ROOT, 'src', p));
  fs.writeFileSync(
    script,
    [
      `import fs from 'node:fs';`,
      `const marks: Record<string, string[]> = {};`,
      // The fixture appends from the resolve hook's messages: give them a turn of the loop to arrive.
      `const mark = async (m: string) => { await new Promise((r) => setTimeout(r, 200)); marks[m] = fs.readFileSync(${JSON.stringify(list)}, 'utf8').split('\\n').filter(Boolean); };`,
      `const providers = await import(${src('notifications/providers.ts')});`,
      `const database = await import(${src('db/database.ts')});`,
      body,
      `console.log('MARKS ' + JSON.stringify(marks));`,
      // The Postgres pool's timers must not keep the child up.
      `process.exit(0);`,
    ].join('\n'),
  );
  fs.writeFileSync(list, '');
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', FIXTURE, script], {
    cwd: ROOT,
    env: childEnv({ LOADED_PACKAGES_FILE: list, AWS_REGION: 'us-east-1' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = collectOutput(child);
  expect(await waitExit(child, 60_000), out.text()).toBe(0);
  const line = out
    .text()
    .split('\n')
    .find((l) => l.startsWith('MARKS '));
  expect(line, out.text()).toBeDefined();
  return JSON.parse(line!.slice('MARKS '.length));
}

describe('packages loaded on first use', () => {
  it('loads nodemailer at the first email sent by SMTP, and that email is delivered', async () => {
    const marks = await inChild(
      'smtp',
      `
      const provider = providers.createSmtpProvider({ host: '127.0.0.1', port: ${smtpPort}, secure: 'none' });
      await mark('made');
      await provider.send({ to: 'a@example.com', from: 'b@example.com', subject: 'lazy', html: '<p>hi</p>', text: 'hi', messageId: '<lazy-1@example.com>' });
      await mark('sent');
      `,
    );
    // The fixture itself works: the service's eagerly imported packages are listed.
    expect(marks.made).toContain('better-sqlite3');
    expect(marks.made).toContain('kysely');
    expect(marks.made).not.toContain('nodemailer');
    expect(marks.made).not.toContain('@aws-sdk/client-sesv2');
    expect(marks.sent).toContain('nodemailer');
    expect(received.some((raw) => raw.includes('Message-ID: <lazy-1@example.com>'))).toBe(true);
  });

  it('loads the SES client at the first email sent by SES; a failure to reach SES is still a transient EmailError', async () => {
    const port = await freePort(); // nothing listens there
    const marks = await inChild(
      'ses',
      `
      const provider = providers.createSesProvider({ region: 'us-east-1', from: 'b@example.com',
        clientConfig: { endpoint: 'http://127.0.0.1:${port}', maxAttempts: 1, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } } });
      await mark('made');
      const err = await provider.send({ to: 'a@example.com', from: 'b@example.com', subject: 's', html: 'h', text: 't', messageId: '<lazy-2@example.com>' }).catch((e: unknown) => e);
      marks.error = [err.name, err.type, err.provider];
      await mark('sent');
      `,
    );
    expect(marks.made).not.toContain('@aws-sdk/client-sesv2');
    expect(marks.sent).toContain('@aws-sdk/client-sesv2');
    expect(marks.error).toEqual(['EmailError', 'EmailTransient', 'ses']);
  });

  it('loads pg only for a Postgres database, when it first connects', async () => {
    const port = await freePort(); // nothing listens there: the connect fails, after pg is loaded
    const marks = await inChild(
      'pg',
      `
      const sqlite = database.createDb(${JSON.stringify(path.join(dir, 'lazy.db'))});
      await database.migrateToLatest(sqlite);
      await mark('sqlite');
      const pg = database.createDb('postgres://u:p@127.0.0.1:${port}/db');
      await mark('made');
      const err = await database.checkDb(pg).catch((e: unknown) => e);
      marks.error = [String(err?.code ?? err?.message)];
      await mark('used');
      `,
    );
    expect(marks.sqlite).toContain('better-sqlite3');
    expect(marks.sqlite).not.toContain('pg');
    expect(marks.made).not.toContain('pg');
    expect(marks.used).toContain('pg');
    expect(marks.error).toEqual(['ECONNREFUSED']);
  });
});
