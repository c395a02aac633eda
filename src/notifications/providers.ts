import type { SESv2ClientConfig } from '@aws-sdk/client-sesv2';
import type { Config } from '../config.js';

/**
 * Where an email goes. Every provider's failure is an `EmailError` whose
 * `type` says whether a retry can help: `EmailRejected` (the provider refused
 * the message for good: unverified sender, 5xx) or `EmailTransient` (network,
 * throttling, 4xx).
 */

export type EmailProviderName = 'outbox' | 'smtp' | 'ses';

export interface EmailMessage {
  to: string;
  from: string;
  subject: string;
  html: string;
  text: string;
  /** An RFC 5322 Message-ID (`<id@domain>`), stable across retries of one notification. */
  messageId: string;
}

export interface EmailProvider {
  name: EmailProviderName;
  send(msg: EmailMessage): Promise<{ providerMessageId: string | null }>;
}

export type EmailErrorType = 'EmailRejected' | 'EmailTransient';

export class EmailError extends Error {
  override name = 'EmailError';
  constructor(
    readonly type: EmailErrorType,
    message: string,
    readonly provider: EmailProviderName,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isEmailRejected(err: unknown): boolean {
  return !!err && typeof err === 'object' && (err as { type?: unknown }).type === 'EmailRejected';
}

// --- outbox ----------------------------------------------------------------------------------

/** Nothing leaves the machine: the notifications row is the delivery, shown in the UI. */
export function createOutboxProvider(): EmailProvider {
  return {
    name: 'outbox',
    async send() {
      return { providerMessageId: null };
    },
  };
}

// --- SMTP ------------------------------------------------------------------------------------

export interface SmtpProviderOptions {
  host: string;
  port?: number;
  user?: string;
  pass?: string;
  /** tls: implicit TLS (usually 465); starttls: upgrade is required (587); none: plain text. */
  secure: 'tls' | 'starttls' | 'none';
  /** For tests against a self-signed certificate. */
  tls?: { rejectUnauthorized?: boolean };
  connectionTimeoutMs?: number;
  socketTimeoutMs?: number;
}

interface SmtpErrorShape {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  message?: string;
}

/** Connection-level failures a later attempt may not meet. */
const TRANSIENT_SMTP_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROTOCOL', 'ESTREAM']);

export function classifySmtpError(err: unknown): EmailError {
  const e = (err ?? {}) as SmtpErrorShape;
  const detail = (e.response ?? e.message ?? String(err)).trim();
  const where = e.command ? ` (${e.command})` : '';
  if (typeof e.responseCode === 'number' && e.responseCode >= 500) {
    return new EmailError('EmailRejected', `SMTP server rejected the message${where}: ${detail}`, 'smtp', { cause: err });
  }
  if (typeof e.responseCode === 'number' && e.responseCode >= 400) {
    return new EmailError('EmailTransient', `SMTP server deferred the message${where}: ${detail}`, 'smtp', { cause: err });
  }
  if (e.code && TRANSIENT_SMTP_CODES.has(e.code)) {
    return new EmailError('EmailTransient', `SMTP connection failed (${e.code}): ${detail}`, 'smtp', { cause: err });
  }
  if (e.code === 'EENVELOPE' || e.code === 'EMESSAGE' || e.code === 'EAUTH') {
    return new EmailError('EmailRejected', `SMTP refused the message (${e.code}): ${detail}`, 'smtp', { cause: err });
  }
  // Unknown failures (a reset socket, an OS error) get the benefit of a retry.
  return new EmailError('EmailTransient', `SMTP send failed: ${detail}`, 'smtp', { cause: err });
}

/**
 * Made once, at the first use. nodemailer and the SES client are imported then, not at start: the
 * web (which notifies too) and the worker keep them out of memory until an email is sent, and with
 * the outbox provider never load them (README: Performance, workload 5).
 */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make().catch((err) => {
      made = undefined;
      throw err;
    });
    return made;
  };
}

export function createSmtpProvider(opts: SmtpProviderOptions): EmailProvider {
  const transport = once(async () => {
    const { default: nodemailer } = await import('nodemailer');
    return nodemailer.createTransport({
      host: opts.host,
      port: opts.port ?? (opts.secure === 'tls' ? 465 : 587),
      secure: opts.secure === 'tls',
      requireTLS: opts.secure === 'starttls',
      ignoreTLS: opts.secure === 'none',
      auth: opts.user ? { user: opts.user, pass: opts.pass ?? '' } : undefined,
      ...(opts.tls ? { tls: opts.tls } : {}),
      connectionTimeout: opts.connectionTimeoutMs ?? 15_000,
      greetingTimeout: opts.connectionTimeoutMs ?? 15_000,
      socketTimeout: opts.socketTimeoutMs ?? 60_000,
    });
  });
  return {
    name: 'smtp',
    async send(msg) {
      try {
        const info = await (await transport()).sendMail({
          from: msg.from,
          to: msg.to,
          subject: msg.subject,
          html: msg.html,
          text: msg.text,
          messageId: msg.messageId,
        });
        if (info.rejected?.length && !info.accepted?.length) {
          throw new EmailError(
            'EmailRejected',
            `SMTP server refused every recipient: ${info.rejected.map(String).join(', ')}`,
            'smtp',
          );
        }
        return { providerMessageId: info.messageId ?? msg.messageId };
      } catch (err) {
        if (err instanceof EmailError) throw err;
        throw classifySmtpError(err);
      }
    },
  };
}

// --- SES v2 ----------------------------------------------------------------------------------

export interface SesProviderOptions {
  region: string;
  /** A verified SES identity; SES refuses every other sender. */
  from: string;
  configurationSet?: string;
  /** Client overrides for tests; the SDK already honours AWS_ENDPOINT_URL(_SESV2). */
  clientConfig?: Omit<SESv2ClientConfig, 'region'>;
}

/** SES errors that no retry will cure. */
const PERMANENT_SES_ERRORS = new Set([
  'MessageRejected',
  'MailFromDomainNotVerifiedException',
  'MailFromDomainNotVerified',
  'AccountSuspendedException',
  'SendingPausedException',
  'BadRequestException',
  'NotFoundException',
  'InvalidParameterValue',
  'ValidationError',
  'AccessDeniedException',
]);

const TRANSIENT_SES_ERRORS = new Set([
  'TooManyRequestsException',
  'LimitExceededException',
  'Throttling',
  'ThrottlingException',
  'InternalFailure',
  'ServiceUnavailable',
]);

interface AwsErrorShape {
  name?: string;
  Code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  code?: string;
}

export function classifySesError(err: unknown): EmailError {
  const e = (err ?? {}) as AwsErrorShape;
  const code = e.name && e.name !== 'Error' ? e.name : (e.Code ?? e.code ?? 'Error');
  const detail = (e.message ?? String(err)).trim();
  const status = e.$metadata?.httpStatusCode;
  if (PERMANENT_SES_ERRORS.has(code)) {
    const hint = /not verified/i.test(detail)
      ? ' (the sender, or in the SES sandbox the recipient, must be a verified SES identity)'
      : '';
    return new EmailError('EmailRejected', `SES rejected the message: ${detail} [${code}]${hint}`, 'ses', { cause: err });
  }
  if (TRANSIENT_SES_ERRORS.has(code) || e.$retryable || e.$fault === 'server' || (status !== undefined && status >= 500)) {
    return new EmailError('EmailTransient', `SES is unavailable or throttling: ${detail} [${code}]`, 'ses', { cause: err });
  }
  if (e.$fault === 'client' && status !== undefined && status !== 429) {
    return new EmailError('EmailRejected', `SES refused the request: ${detail} [${code}]`, 'ses', { cause: err });
  }
  // No HTTP answer at all: network, DNS, credentials lookup.
  return new EmailError('EmailTransient', `SES request failed: ${detail} [${code}]`, 'ses', { cause: err });
}

export function createSesProvider(opts: SesProviderOptions): EmailProvider {
  const sdk = once(async () => {
    const { SESv2Client, SendEmailCommand } = await import('@aws-sdk/client-sesv2');
    return { client: new SESv2Client({ ...opts.clientConfig, region: opts.region }), SendEmailCommand };
  });
  return {
    name: 'ses',
    async send(msg) {
      try {
        // A failed import is not the provider's refusal: classified below as transient, like a network fault.
        const { client, SendEmailCommand } = await sdk();
        const res = await client.send(
          new SendEmailCommand({
            FromEmailAddress: opts.from,
            Destination: { ToAddresses: [msg.to] },
            Content: {
              Simple: {
                Subject: { Data: msg.subject, Charset: 'UTF-8' },
                Body: {
                  Html: { Data: msg.html, Charset: 'UTF-8' },
                  Text: { Data: msg.text, Charset: 'UTF-8' },
                },
              },
            },
            ...(opts.configurationSet ? { ConfigurationSetName: opts.configurationSet } : {}),
          }),
        );
        return { providerMessageId: res.MessageId ?? null };
      } catch (err) {
        throw classifySesError(err);
      }
    },
  };
}

// --- choice by configuration -----------------------------------------------------------------

export type EmailConfig = Pick<
  Config,
  | 'EMAIL_PROVIDER'
  | 'EMAIL_FROM'
  | 'SES_REGION'
  | 'SES_FROM_EMAIL'
  | 'SES_CONFIGURATION_SET'
  | 'SMTP_HOST'
  | 'SMTP_PORT'
  | 'SMTP_USER'
  | 'SMTP_PASS'
  | 'SMTP_SECURE'
>;

export function createEmailProvider(config: EmailConfig): EmailProvider {
  switch (config.EMAIL_PROVIDER) {
    case 'ses': {
      const region = config.SES_REGION ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
      if (!region) throw new Error('SES_REGION (or AWS_REGION) is required when EMAIL_PROVIDER=ses');
      if (!config.SES_FROM_EMAIL) throw new Error('SES_FROM_EMAIL is required when EMAIL_PROVIDER=ses');
      return createSesProvider({ region, from: config.SES_FROM_EMAIL, configurationSet: config.SES_CONFIGURATION_SET });
    }
    case 'smtp':
      if (!config.SMTP_HOST) throw new Error('SMTP_HOST is required when EMAIL_PROVIDER=smtp');
      return createSmtpProvider({
        host: config.SMTP_HOST,
        port: config.SMTP_PORT,
        user: config.SMTP_USER,
        pass: config.SMTP_PASS,
        secure: config.SMTP_SECURE,
      });
    default:
      return createOutboxProvider();
  }
}

/** The sender the notifier should put on messages: SES only accepts its verified identity. */
export function emailFromAddress(config: EmailConfig): string {
  return config.EMAIL_PROVIDER === 'ses' && config.SES_FROM_EMAIL ? config.SES_FROM_EMAIL : config.EMAIL_FROM;
}
