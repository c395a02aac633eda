import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/**
 * Structured JSON logs (pino) for the web and worker processes, one object
 * per line on stdout. Job work logs through `jobLogger`, so every line of it
 * carries `jobId` and `workflowId`. Request and header contents are never
 * logged; the redact paths are a second line of defence should a caller pass
 * an object that holds credentials.
 */

const REDACT_PATHS = [
  'authorization',
  'cookie',
  'headers',
  'password',
  'secretAccessKey',
  'sessionToken',
  '*.authorization',
  '*.cookie',
  '*.headers',
  '*.password',
  '*.secretAccessKey',
  '*.sessionToken',
];

function defaultLevel(): LevelWithSilent {
  const fromEnv = process.env.LOG_LEVEL as LevelWithSilent | undefined;
  if (fromEnv) return fromEnv;
  // Test runs keep their output for the test reporter.
  return process.env.VITEST ? 'silent' : 'info';
}

function build(level: LevelWithSilent, destination?: DestinationStream, base: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, ...base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination,
  );
}

let root: Logger = build(defaultLevel());

/**
 * Sets the process's logging once at start (`process` names it in every
 * line: web, worker or all). Tests pass a destination to read the lines.
 */
export function configureLogging(opts: { level?: LevelWithSilent; process?: string; destination?: DestinationStream }): Logger {
  root = build(opts.level ?? defaultLevel(), opts.destination, opts.process ? { process: opts.process } : {});
  return root;
}

/** A logger for one part of the service (`component` in every line). */
export function getLogger(component: string): Logger {
  return root.child({ component });
}

export interface JobLogContext {
  jobId: string;
  workflowId: string;
  [key: string]: unknown;
}

/** A child logger for one piece of job work: every line carries the job id and workflow id. */
export function jobLogger(ctx: JobLogContext): Logger {
  return root.child(ctx);
}

/** The job id in a workflow id `job-<jobId>`, or undefined for other workflows. */
export function jobIdOfWorkflow(workflowId: string | undefined): string | undefined {
  return workflowId?.startsWith('job-') ? workflowId.slice('job-'.length) : undefined;
}

/** Warnings of the SDK about what the service does on purpose (logged as info): the Terraform worker runs activities only. */
export const EXPECTED_SDK_WARNINGS: ReadonlySet<string> = new Set(['No workflows registered, not polling for workflow tasks']);

/**
 * The Temporal SDK's logger interface over pino: the SDK's own lines about a
 * workflow or activity carry its workflowId, and from it the jobId.
 */
export function temporalSdkLogger() {
  const log = (level: 'trace' | 'debug' | 'info' | 'warn' | 'error', message: string, meta?: Record<string, unknown>) => {
    if (level === 'warn' && EXPECTED_SDK_WARNINGS.has(message)) level = 'info';
    const logger = root.child({ component: 'temporal-sdk' });
    const fields: Record<string, unknown> = { ...(meta ?? {}) };
    const jobId = jobIdOfWorkflow(typeof fields.workflowId === 'string' ? fields.workflowId : undefined);
    if (jobId) fields.jobId = jobId;
    logger[level](fields, message);
  };
  return {
    log(level: string, message: string, meta?: Record<string, unknown>) {
      const l = level.toLowerCase();
      log((['trace', 'debug', 'info', 'warn', 'error'].includes(l) ? l : 'info') as 'info', message, meta);
    },
    trace: (message: string, meta?: Record<string, unknown>) => log('trace', message, meta),
    debug: (message: string, meta?: Record<string, unknown>) => log('debug', message, meta),
    info: (message: string, meta?: Record<string, unknown>) => log('info', message, meta),
    warn: (message: string, meta?: Record<string, unknown>) => log('warn', message, meta),
    error: (message: string, meta?: Record<string, unknown>) => log('error', message, meta),
  };
}
