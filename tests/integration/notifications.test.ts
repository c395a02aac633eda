import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { CreateEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import type { Db } from '../../src/db/database.js';
import { insertJob } from '../../src/db/jobs.js';
import { getJobNotification, getNotification, listJobNotifications, listNotifications } from '../../src/db/notifications.js';
import type { NotificationEvent } from '../../src/domain/notifications.js';
import { createNotifier } from '../../src/notifications/notifier.js';
import {
  createEmailProvider,
  createOutboxProvider,
  createSesProvider,
  createSmtpProvider,
  type EmailProvider,
} from '../../src/notifications/providers.js';
import { freePort } from '../../src/temporal/devServer.js';
import { createTempDb } from '../support/tempDb.js';
import { motoEnv, setEnv, startMoto, type Moto } from '../support/moto.js';

const BASE_URL = 'http://prov.test:8000';
const FROM = 'Provisioning <provisioning@prov.test>';

// --- fixtures --------------------------------------------------------------------------------

let db: Db;
let cleanupDb: () => Promise<void>;

beforeAll(async () => {
  ({ db, cleanup: cleanupDb } = await createTempDb());
});
afterAll(async () => {
  await cleanupDb?.();
});

async function makeJob(overrides: { requesterEmail?: string; name?: string; status?: string; error?: string } = {}) {
  const id = randomUUID();
  const now = new Date().toISOString();
  const requesterEmail = overrides.requesterEmail ?? 'alice@example.com';
  const name = overrides.name ?? 'demo-web';
  await insertJob(db, {
    id,
    name,
    status: overrides.status ?? 'succeeded',
    step: overrides.status === 'failed' ? 'apply' : 'ready',
    requester_email: requesterEmail,
    region: 'us-east-1',
    instance_type: 't3.micro',
    auth_method: 'assume_role',
    spec_json: JSON.stringify({
      name,
      requesterEmail,
      region: 'us-east-1',
      auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/Provisioner' },
      instance: { type: 't3.micro' },
      containers: [{ name: 'webapp', image: 'nginx:latest', ports: ['8080:80'] }],
      options: {},
    }),
    outputs_json: JSON.stringify({
      instance_id: 'i-0abc',
      public_ip: '203.0.113.7',
      private_ip: '10.0.0.7',
      public_dns: 'ec2-203-0-113-7.compute-1.amazonaws.com',
      ami_id: 'ami-0abc',
      security_group_id: 'sg-0abc',
    }),
    error: overrides.error ?? null,
    created_at: now,
    updated_at: now,
  });
  return { id, jobUrl: `${BASE_URL}/jobs/${id}`, requesterEmail };
}

// --- a real SMTP server in this process ------------------------------------------------------

interface ReceivedMail {
  from: string | undefined;
  to: string[];
  raw: string;
  secure: boolean;
  user: string | undefined;
}

interface TestSmtp {
  port: number;
  received: ReceivedMail[];
  /** When set, RCPT TO is answered with this code and text. */
  reject: { code: number; message: string } | null;
  close(): Promise<void>;
}

async function startSmtp(opts: { secure?: boolean; starttls?: boolean } = {}): Promise<TestSmtp> {
  const port = await freePort();
  const state: TestSmtp = {
    port,
    received: [],
    reject: null,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = new SMTPServer({
    secure: opts.secure ?? false,
    // No key/cert given: smtp-server's bundled self-signed certificate is used for TLS.
    disabledCommands: opts.starttls || opts.secure ? [] : ['STARTTLS'],
    authOptional: true,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === 'mailer' && auth.password === 'secret') return callback(null, { user: auth.username });
      callback(new Error('Invalid username or password'));
    },
    onRcptTo(_address, _session, callback) {
      if (state.reject) {
        const err = new Error(state.reject.message) as Error & { responseCode: number };
        err.responseCode = state.reject.code;
        return callback(err);
      }
      callback();
    },
    onData(stream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        state.received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          secure: session.secure,
          user: typeof session.user === 'string' ? session.user : undefined,
        });
        callback();
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return state;
}

/** Just enough MIME to read headers and the decoded text/plain and text/html parts. */
function parseMail(raw: string): { headers: Record<string, string>; parts: Record<string, string> } {
  const splitHeaders = (block: string) => {
    const headers: Record<string, string> = {};
    for (const line of block.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    return headers;
  };
  const decode = (body: string, encoding = '7bit') => {
    if (/quoted-printable/i.test(encoding)) {
      const bytes = body
        .replace(/=\r?\n/g, '')
        .replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
      return Buffer.from(bytes, 'latin1').toString('utf8');
    }
    if (/base64/i.test(encoding)) return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    return body;
  };
  const [head, ...rest] = raw.split(/\r?\n\r?\n/);
  const headers = splitHeaders(head);
  // RFC 2047 encoded words, as a mail reader shows them.
  for (const [k, v] of Object.entries(headers)) {
    headers[k] = v
      .replace(/\?=\s+=\?/g, '?==?')
      .replace(/=\?([^?]+)\?([QB])\?([^?]*)\?=/gi, (_, _charset: string, enc: string, data: string) =>
        enc.toUpperCase() === 'B'
          ? Buffer.from(data, 'base64').toString('utf8')
          : decode(data.replace(/_/g, ' '), 'quoted-printable'),
      );
  }
  const parts: Record<string, string> = {};
  const boundary = /boundary="?([^";]+)"?/i.exec(headers['content-type'] ?? '')?.[1];
  if (boundary) {
    const body = rest.join('\r\n\r\n');
    for (const chunk of body.split(`--${boundary}`).slice(1)) {
      if (chunk.startsWith('--')) break;
      const sep = chunk.search(/\r?\n\r?\n/);
      const partHeaders = splitHeaders(chunk.slice(0, sep).trim());
      const type = (partHeaders['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      parts[type] = decode(
        chunk
          .slice(sep)
          .replace(/^\r?\n\r?\n/, '')
          .replace(/\r?\n$/, ''),
        partHeaders['content-transfer-encoding'],
      );
    }
  }
  return { headers, parts };
}

const noTlsSmtp = (port: number) => createSmtpProvider({ host: '127.0.0.1', port, secure: 'none' });

describe('SMTP delivery to a real SMTP server', () => {
  let smtp: TestSmtp;
  beforeEach(async () => {
    smtp = await startSmtp();
  });
  afterEach(async () => {
    await smtp.close();
  });

  it('delivers the succeeded email with both parts and the job link', async () => {
    const job = await makeJob({ requesterEmail: 'alice@example.com' });
    const notifier = createNotifier({ db, provider: noTlsSmtp(smtp.port), from: FROM, publicBaseUrl: BASE_URL });

    await expect(notifier.notify(job.id, 'succeeded', { attempt: 1, maxAttempts: 8 })).resolves.toEqual({ status: 'sent' });

    expect(smtp.received).toHaveLength(1);
    const mail = smtp.received[0];
    expect(mail.from).toBe('provisioning@prov.test');
    expect(mail.to).toEqual(['alice@example.com']);
    const { headers, parts } = parseMail(mail.raw);
    expect(headers.subject).toBe('[provisioning] Job "demo-web" succeeded');
    expect(headers.to).toBe('alice@example.com');
    expect(headers.from).toBe('Provisioning <provisioning@prov.test>');
    expect(headers['content-type']).toMatch(/^multipart\/alternative/);
    expect(Object.keys(parts).sort()).toEqual(['text/html', 'text/plain']);
    expect(parts['text/plain']).toContain(job.jobUrl);
    expect(parts['text/plain']).toContain('http://ec2-203-0-113-7.compute-1.amazonaws.com:8080');
    expect(parts['text/html']).toContain(`href="${job.jobUrl}"`);
    expect(parts['text/html']).toContain('i-0abc');

    const row = await getJobNotification(db, job.id, 'succeeded');
    expect(row).toMatchObject({ status: 'sent', provider: 'smtp', recipient: 'alice@example.com', error: null });
    expect(row?.sent_at).toBeTruthy();
    expect(row?.provider_message_id).toBe(headers['message-id']);
    expect(headers['message-id']).toMatch(/^<notification-\d+\.succeeded@prov\.test>$/);
  });

  it('the failed email carries the step, the error and the last 20 log lines', async () => {
    const job = await makeJob({ status: 'failed', error: 'apply failed: UnauthorizedOperation' });
    const ts = new Date().toISOString();
    await db
      .insertInto('job_logs')
      .values(
        Array.from({ length: 25 }, (_, i) => ({
          job_id: job.id,
          seq: i + 1,
          ts,
          step: 'apply',
          attempt: 1,
          stream: 'stdout',
          line_no: i + 1,
          line: `terraform line ${i + 1}`,
        })),
      )
      .execute();
    const notifier = createNotifier({ db, provider: noTlsSmtp(smtp.port), from: FROM, publicBaseUrl: BASE_URL });
    await expect(notifier.notify(job.id, 'failed', { attempt: 1 })).resolves.toEqual({ status: 'sent' });
    const { headers, parts } = parseMail(smtp.received[0].raw);
    expect(headers.subject).toBe('[provisioning] Job "demo-web" failed');
    expect(parts['text/plain']).toContain('apply failed: UnauthorizedOperation');
    expect(parts['text/plain']).toContain('terraform line 25');
    expect(parts['text/plain']).toContain('terraform line 6');
    expect(parts['text/plain']).not.toMatch(/terraform line 5$/m);
    expect(parts['text/html']).toContain('terraform line 25');
  });

  it('sends one email for the same event notified twice', async () => {
    const job = await makeJob();
    const notifier = createNotifier({ db, provider: noTlsSmtp(smtp.port), from: FROM, publicBaseUrl: BASE_URL });
    expect(await notifier.notify(job.id, 'destroyed', { attempt: 1 })).toEqual({ status: 'sent' });
    expect(await notifier.notify(job.id, 'destroyed', { attempt: 2 })).toEqual({ status: 'already_sent' });
    // A second notifier (another worker) agrees: the row is the gate, not memory.
    const other = createNotifier({ db, provider: noTlsSmtp(smtp.port), from: FROM, publicBaseUrl: BASE_URL });
    expect(await other.notify(job.id, 'destroyed', { attempt: 1 })).toEqual({ status: 'already_sent' });
    expect(smtp.received).toHaveLength(1);
    expect(await listJobNotifications(db, job.id)).toHaveLength(1);
  });

  it('never sends twice after a worker died mid-send (row left in sending)', async () => {
    const job = await makeJob();
    const real = noTlsSmtp(smtp.port);
    // The first attempt's worker "dies" inside the provider call: its send never returns.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const dying: EmailProvider = {
      name: 'smtp',
      async send(msg) {
        await gate;
        return real.send(msg);
      },
    };
    const firstAttempt = createNotifier({ db, provider: dying, from: FROM, publicBaseUrl: BASE_URL }).notify(
      job.id,
      'succeeded',
      { attempt: 1, maxAttempts: 8 },
    );
    await expect.poll(async () => (await getJobNotification(db, job.id, 'succeeded'))?.status).toBe('sending');

    const retry = createNotifier({ db, provider: real, from: FROM, publicBaseUrl: BASE_URL });
    await expect(retry.notify(job.id, 'succeeded', { attempt: 2, maxAttempts: 8 })).resolves.toEqual({ status: 'unconfirmed' });
    expect(smtp.received).toHaveLength(0);
    const row = await getJobNotification(db, job.id, 'succeeded');
    expect(row?.status).toBe('unconfirmed');
    expect(row?.error).toMatch(/earlier attempt stopped while sending.*not sent again/);
    // Further retries leave it alone.
    await expect(retry.notify(job.id, 'succeeded', { attempt: 3, maxAttempts: 8 })).resolves.toEqual({ status: 'unconfirmed' });

    // Had the first attempt's send in fact gone through, the row records it, and still only once.
    release();
    await expect(firstAttempt).resolves.toEqual({ status: 'sent' });
    expect(smtp.received).toHaveLength(1);
    expect((await getJobNotification(db, job.id, 'succeeded'))?.status).toBe('sent');
  });

  it('a 421 is transient: it rethrows, the row stays pending, and the retry sends once', async () => {
    const job = await makeJob();
    const notifier = createNotifier({ db, provider: noTlsSmtp(smtp.port), from: FROM, publicBaseUrl: BASE_URL });
    smtp.reject = { code: 421, message: 'Service not available, try again later' };

    const err = await notifier.notify(job.id, 'cancelled', { attempt: 1, maxAttempts: 8 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'EmailTransient' });
    expect((err as Error).message).toMatch(/421|try again later/i);
    const pending = await getJobNotification(db, job.id, 'cancelled');
    expect(pending?.status).toBe('pending');
    expect(pending?.error).toMatch(/attempt 1 of 8: .*try again later/i);
    expect(smtp.received).toHaveLength(0);

    smtp.reject = null;
    await expect(notifier.notify(job.id, 'cancelled', { attempt: 2, maxAttempts: 8 })).resolves.toEqual({ status: 'sent' });
    expect(smtp.received).toHaveLength(1);
    const sent = await getJobNotification(db, job.id, 'cancelled');
    expect(sent).toMatchObject({ status: 'sent', error: null });
  });

  it('a transient failure on the last attempt is recorded as failed, not thrown', async () => {
    const job = await makeJob();
    const notifier = createNotifier({ db, provider: noTlsSmtp(smtp.port), from: FROM, publicBaseUrl: BASE_URL });
    smtp.reject = { code: 451, message: 'Local error in processing' };
    await expect(notifier.notify(job.id, 'rejected', { attempt: 8, maxAttempts: 8 })).resolves.toEqual({ status: 'failed' });
    const row = await getJobNotification(db, job.id, 'rejected');
    expect(row?.status).toBe('failed');
    expect(row?.error).toMatch(/gave up after 8 attempts: .*Local error in processing/);
  });

  it('a 5xx is permanent: failed at once, never thrown', async () => {
    const job = await makeJob();
    const notifier = createNotifier({ db, provider: noTlsSmtp(smtp.port), from: FROM, publicBaseUrl: BASE_URL });
    smtp.reject = { code: 550, message: 'No such user here' };
    await expect(notifier.notify(job.id, 'approval_needed', { attempt: 1, maxAttempts: 8 })).resolves.toEqual({
      status: 'failed',
    });
    const row = await getJobNotification(db, job.id, 'approval_needed');
    expect(row?.status).toBe('failed');
    expect(row?.error).toMatch(/SMTP server rejected the message.*No such user here/);
    // A later call does not try again.
    smtp.reject = null;
    await expect(notifier.notify(job.id, 'approval_needed', { attempt: 2, maxAttempts: 8 })).resolves.toEqual({
      status: 'failed',
    });
    expect(smtp.received).toHaveLength(0);
  });

  it('an unreachable server is transient', async () => {
    const port = await freePort();
    const err = await noTlsSmtp(port)
      .send({ to: 'a@example.com', from: FROM, subject: 's', html: '<p>h</p>', text: 't', messageId: '<x@prov.test>' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'EmailTransient' });
  });
});

describe('SMTP TLS modes', () => {
  it.each([
    { mode: 'none', server: {}, secure: false },
    { mode: 'starttls', server: { starttls: true }, secure: true },
    { mode: 'tls', server: { secure: true }, secure: true },
  ] as const)('$mode', async ({ mode, server, secure }) => {
    const smtp = await startSmtp(server);
    try {
      const provider = createSmtpProvider({
        host: '127.0.0.1',
        port: smtp.port,
        secure: mode,
        user: 'mailer',
        pass: 'secret',
        tls: { rejectUnauthorized: false },
      });
      const res = await provider.send({
        to: 'bob@example.com',
        from: FROM,
        subject: 'hello',
        html: '<p>hi</p>',
        text: 'hi',
        messageId: `<tls-${mode}@prov.test>`,
      });
      expect(res.providerMessageId).toBe(`<tls-${mode}@prov.test>`);
      expect(smtp.received).toHaveLength(1);
      expect(smtp.received[0].secure).toBe(secure);
      expect(smtp.received[0].user).toBe('mailer');
    } finally {
      await smtp.close();
    }
  });

  it('starttls refuses a server that does not offer STARTTLS', async () => {
    const smtp = await startSmtp();
    try {
      const provider = createSmtpProvider({ host: '127.0.0.1', port: smtp.port, secure: 'starttls' });
      await expect(
        provider.send({ to: 'b@example.com', from: FROM, subject: 's', html: 'h', text: 't', messageId: '<n@prov.test>' }),
      ).rejects.toMatchObject({ type: expect.stringMatching(/^Email(Transient|Rejected)$/) });
      expect(smtp.received).toHaveLength(0);
    } finally {
      await smtp.close();
    }
  });
});

// --- SES v2 through moto's server mode -------------------------------------------------------

interface MotoSesMessage {
  id: string;
  source: string;
  subject: string;
  body: string;
  destinations: { ToAddresses?: string[] };
}

describe('SES v2 through moto', () => {
  let moto: Moto;
  let restoreEnv: (() => void) | undefined;

  beforeAll(async () => {
    moto = await startMoto();
    // AWS_ENDPOINT_URL alone points the SES v2 client at moto: the SDK honours it by itself.
    restoreEnv = setEnv(motoEnv(moto.endpoint, 'us-east-1'));
  });
  afterAll(async () => {
    restoreEnv?.();
    await moto?.stop();
  });

  async function sentMessages(): Promise<MotoSesMessage[]> {
    const data = (await (await fetch(`${moto.endpoint}/moto-api/data.json`)).json()) as {
      ses?: { Message?: MotoSesMessage[] };
    };
    return data.ses?.Message ?? [];
  }

  it('a verified sender succeeds and the message is in SES', async () => {
    const sender = `sender-${randomUUID().slice(0, 8)}@prov.test`;
    await new SESv2Client({ region: 'us-east-1' }).send(new CreateEmailIdentityCommand({ EmailIdentity: sender }));
    const job = await makeJob({ requesterEmail: `owner-${randomUUID().slice(0, 8)}@example.com` });
    const provider = createSesProvider({ region: 'us-east-1', from: sender });
    const notifier = createNotifier({ db, provider, from: sender, publicBaseUrl: BASE_URL });

    await expect(notifier.notify(job.id, 'succeeded', { attempt: 1, maxAttempts: 8 })).resolves.toEqual({ status: 'sent' });

    const row = await getJobNotification(db, job.id, 'succeeded');
    expect(row).toMatchObject({ status: 'sent', provider: 'ses', error: null });
    expect(row?.provider_message_id).toBeTruthy();
    const message = (await sentMessages()).find((m) => m.id === row?.provider_message_id);
    expect(message).toBeDefined();
    expect(message?.source).toBe(sender);
    expect(message?.destinations.ToAddresses).toEqual([job.requesterEmail]);
    expect(message?.subject).toBe('[provisioning] Job "demo-web" succeeded');
    // moto keeps the HTML body of a Simple message.
    expect(message?.body).toContain(`href="${job.jobUrl}"`);
  });

  it('an unverified sender is a permanent, clearly recorded failure that does not throw', async () => {
    const sender = `unverified-${randomUUID().slice(0, 8)}@prov.test`;
    const job = await makeJob();
    const provider = createSesProvider({ region: 'us-east-1', from: sender });

    const direct = await provider
      .send({ to: 'x@example.com', from: sender, subject: 's', html: 'h', text: 't', messageId: '<d@prov.test>' })
      .catch((e: unknown) => e);
    expect(direct).toMatchObject({ type: 'EmailRejected' });

    const notifier = createNotifier({ db, provider, from: sender, publicBaseUrl: BASE_URL });
    // Attempt 1 of 8: still no retry, because a rejection is permanent.
    await expect(notifier.notify(job.id, 'succeeded', { attempt: 1, maxAttempts: 8 })).resolves.toEqual({ status: 'failed' });
    const row = await getJobNotification(db, job.id, 'succeeded');
    expect(row?.status).toBe('failed');
    expect(row?.error).toMatch(/SES rejected the message/);
    expect(row?.error).toMatch(/not verified/i);
    expect(row?.error).toContain(sender);
    expect(row?.error).toContain('MessageRejected');
    expect((await sentMessages()).some((m) => m.source === sender)).toBe(false);
  });

  it('createEmailProvider builds the SES provider from the settings', async () => {
    const sender = `cfg-${randomUUID().slice(0, 8)}@prov.test`;
    await new SESv2Client({ region: 'us-east-1' }).send(new CreateEmailIdentityCommand({ EmailIdentity: sender }));
    const provider = createEmailProvider({
      EMAIL_PROVIDER: 'ses',
      EMAIL_FROM: FROM,
      SES_REGION: 'us-east-1',
      SES_FROM_EMAIL: sender,
      SES_CONFIGURATION_SET: undefined,
      SMTP_HOST: undefined,
      SMTP_PORT: undefined,
      SMTP_USER: undefined,
      SMTP_PASS: undefined,
      SMTP_SECURE: 'starttls',
    });
    expect(provider.name).toBe('ses');
    const res = await provider.send({
      to: 'z@example.com',
      from: FROM,
      subject: 'cfg',
      html: 'h',
      text: 't',
      messageId: '<c@prov.test>',
    });
    expect((await sentMessages()).find((m) => m.id === res.providerMessageId)?.source).toBe(sender);
  });
});

// --- outbox ----------------------------------------------------------------------------------

describe('outbox provider', () => {
  it('stores the email as the delivery, once', async () => {
    const job = await makeJob();
    const notifier = createNotifier({ db, provider: createOutboxProvider(), from: FROM, publicBaseUrl: BASE_URL });
    const events: NotificationEvent[] = ['approval_needed', 'succeeded'];
    for (const event of events) {
      await expect(notifier.notify(job.id, event, { attempt: 1 })).resolves.toEqual({ status: 'stored' });
    }
    await expect(notifier.notify(job.id, 'succeeded', { attempt: 2 })).resolves.toEqual({ status: 'already_sent' });

    const rows = await listJobNotifications(db, job.id);
    expect(rows.map((r) => [r.event, r.status, r.provider])).toEqual([
      ['approval_needed', 'stored', 'outbox'],
      ['succeeded', 'stored', 'outbox'],
    ]);
    const succeeded = rows[1];
    expect(succeeded.subject).toBe('[provisioning] Job "demo-web" succeeded');
    expect(succeeded.recipient).toBe('alice@example.com');
    expect(succeeded.html).toContain(`href="${job.jobUrl}"`);
    expect(succeeded.text).toContain(job.jobUrl);
    expect(await getNotification(db, succeeded.id)).toEqual(succeeded);

    const page = await listNotifications(db, { limit: 1 });
    expect(page).toHaveLength(1);
    expect(page[0]).toMatchObject({ id: succeeded.id, job_name: 'demo-web' });
    const next = await listNotifications(db, { limit: 1, before: page[0].id });
    expect(next[0].id).toBe(rows[0].id);
  });

  it('createEmailProvider defaults to the outbox', () => {
    expect(
      createEmailProvider({
        EMAIL_PROVIDER: 'outbox',
        EMAIL_FROM: FROM,
        SES_REGION: undefined,
        SES_FROM_EMAIL: undefined,
        SES_CONFIGURATION_SET: undefined,
        SMTP_HOST: undefined,
        SMTP_PORT: undefined,
        SMTP_USER: undefined,
        SMTP_PASS: undefined,
        SMTP_SECURE: 'starttls',
      }).name,
    ).toBe('outbox');
  });

  it('an unknown job is refused', async () => {
    const notifier = createNotifier({ db, provider: createOutboxProvider(), from: FROM, publicBaseUrl: BASE_URL });
    await expect(notifier.notify('no-such-job', 'succeeded', { attempt: 1 })).rejects.toThrow(/does not exist/);
  });
});
