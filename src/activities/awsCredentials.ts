import { inspect } from 'node:util';
import {
  AssumeRoleCommand,
  GetCallerIdentityCommand,
  STSClient,
  type AssumeRoleCommandOutput,
  type GetCallerIdentityCommandOutput,
  type STSClientConfig,
} from '@aws-sdk/client-sts';
import {
  AccessDeniedError,
  AwsTransientError,
  awsErrorCode,
  InvalidInputError,
  mapAwsError,
  type TypedAwsError,
  type SdkErrorLike,
} from './awsErrors.js';

/**
 * The job's AWS credentials: AssumeRole (the default) or access keys, checked
 * with GetCallerIdentity and against ALLOWED_ACCOUNT_IDS. The activities call
 * this through the worker's JobCredentialCache (credentialCache.ts), so a job
 * assumes its role once rather than before every step; the short-lived
 * credentials stay inside the worker process and reach Terraform only through
 * `terraformEnv`.
 *
 * Every client built here and in preflight/readiness leaves the endpoint to
 * the SDK, which reads AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>
 * (STS, EC2, SSM, SESV2) from the environment by itself, so the service runs
 * against moto or LocalStack unchanged.
 */

// ---------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------

export interface JobCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** Structurally the `auth` of the job spec (src/domain/jobSpec.ts). */
export type AuthInput =
  | {
      method: 'assume_role';
      roleArn: string;
      externalId?: string;
      /** A team account's external ID before its last rotation, tried when the current one is refused. */
      previousExternalId?: string;
    }
  | { method: 'access_keys'; accessKeyId: string; secretAccessKey: string; sessionToken?: string };

export interface ResolveCredentialsInput {
  jobId: string;
  region: string;
  auth: AuthInput;
  /** ALLOWED_ACCOUNT_IDS; empty or absent means any account. */
  allowedAccountIds?: string[];
  /** AssumeRole session length, clamped to 900..43200; default 3600. */
  durationSeconds?: number;
}

export interface ResolvedCredentials {
  /** Secret: keep inside the worker; JSON.stringify and console.log show it redacted. */
  credentials: JobCredentials;
  accountId: string;
  /** The caller identity: the assumed-role ARN, or the IAM user/role ARN of the keys. */
  arn: string;
}

export interface CredentialsDeps {
  /** Builds the STS clients (tests stub `send`). */
  createStsClient?: (config: STSClientConfig) => STSClient;
}

/**
 * Every AWS SDK client of the activities gets these bounds: the SDK's own
 * default has none, so a connection that never answers would hold its step
 * until the activity's start-to-close timeout. A timed-out request is retried
 * by the SDK (TimeoutError is transient), then surfaces as AwsTransient.
 */
export const AWS_REQUEST_HANDLER = {
  connectionTimeout: 5_000,
  requestTimeout: 20_000,
  throwOnRequestTimeout: true,
} as const;

export const DEFAULT_SESSION_SECONDS = 3600;
export const MIN_SESSION_SECONDS = 900;
export const MAX_SESSION_SECONDS = 43200;

const ROLE_ARN =
  /^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f|aws-eusc):iam::(\d{12}):role\/((?:[\x21-\x7e]*\/)?)([\w+=,.@-]{1,64})$/;

export interface ParsedRoleArn {
  partition: string;
  accountId: string;
  path: string;
  roleName: string;
}

/** Parses `arn:aws:iam::123456789012:role/[path/]Name`, or throws InvalidInput naming `auth.roleArn`. */
export function parseRoleArn(roleArn: string): ParsedRoleArn {
  const value = typeof roleArn === 'string' ? roleArn.trim() : '';
  const m = ROLE_ARN.exec(value);
  if (!m || value.length > 2048) {
    const shown = value.length > 120 ? `${value.slice(0, 120)}…` : value;
    let hint = 'expected arn:aws:iam::<12-digit account id>:role/<role name>';
    if (/^arn:[^:]+:sts::/.test(value)) hint += ' (this is an STS assumed-role ARN; use the IAM role ARN instead)';
    else if (/^arn:[^:]+:iam::\d{12}:user\//.test(value)) hint += ' (this is an IAM user, not a role)';
    else if (/^arn:[^:]+:iam::\d{1,11}:|^arn:[^:]+:iam::\d{13,}:/.test(value)) hint += ' (the account id must have 12 digits)';
    return throwInvalid(`"${shown}" is not a valid IAM role ARN: ${hint}.`, 'auth.roleArn');
  }
  return { partition: m[1], accountId: m[2], path: m[3], roleName: m[4] };
}

function throwInvalid(message: string, field: string): never {
  throw new InvalidInputError(message, { field });
}

/** RoleSessionName `job-<jobId>`, limited to the characters and length STS accepts. */
export function roleSessionName(jobId: string): string {
  const safe = `job-${jobId}`.replace(/[^\w+=,.@-]/g, '-');
  return safe.slice(0, 64);
}

export function boundedDuration(seconds: number | undefined): number {
  if (seconds === undefined || !Number.isFinite(seconds)) return DEFAULT_SESSION_SECONDS;
  return Math.min(MAX_SESSION_SECONDS, Math.max(MIN_SESSION_SECONDS, Math.round(seconds)));
}

function checkAllowedAccount(accountId: string, allowed: string[] | undefined, what: string, field?: string): void {
  if (!allowed || allowed.length === 0) return;
  if (allowed.includes(accountId)) return;
  throw new AccessDeniedError(
    `AWS account ${accountId} (${what}) is not one of the accounts this service may provision into ` +
      `(ALLOWED_ACCOUNT_IDS). Ask an administrator to allow it, or use a role in an allowed account.`,
    { field },
  );
}

/**
 * Hides the secret fields from JSON.stringify and util.inspect (console.log,
 * loggers), so an accidental log line or activity result cannot carry them.
 * Property access (what terraformEnv and the SDK use) is unchanged.
 */
function sealed(creds: JobCredentials): JobCredentials {
  const redacted = () => ({
    accessKeyId: '[REDACTED]',
    secretAccessKey: '[REDACTED]',
    ...(creds.sessionToken ? { sessionToken: '[REDACTED]' } : {}),
    ...(creds.expiration ? { expiration: creds.expiration } : {}),
  });
  Object.defineProperty(creds, 'toJSON', { value: redacted, enumerable: false });
  Object.defineProperty(creds, inspect.custom, { value: () => redacted(), enumerable: false });
  return creds;
}

function stsClient(deps: CredentialsDeps, config: STSClientConfig): STSClient {
  const bounded: STSClientConfig = { ...config, requestHandler: AWS_REQUEST_HANDLER };
  return deps.createStsClient ? deps.createStsClient(bounded) : new STSClient(bounded);
}

export async function resolveJobCredentials(
  input: ResolveCredentialsInput,
  deps: CredentialsDeps = {},
): Promise<ResolvedCredentials> {
  const { auth, region } = input;
  if (!region || typeof region !== 'string') throwInvalid('A region is required.', 'region');

  let credentials: JobCredentials;
  if (auth.method === 'assume_role') {
    const role = parseRoleArn(auth.roleArn);
    // Before any AWS call: a role in another account never gets assumed.
    checkAllowedAccount(role.accountId, input.allowedAccountIds, 'from the role ARN', 'auth.roleArn');
    if (auth.externalId !== undefined && auth.externalId !== '') {
      if (!/^[\w+=,.@:/-]{2,1224}$/.test(auth.externalId)) {
        throwInvalid(
          'The external ID must be 2 to 1224 characters of letters, digits and + = , . @ : / - _ (no spaces).',
          'auth.externalId',
        );
      }
    }
    // The worker's own base credentials: no `credentials` given, so the SDK's default chain.
    const sts = stsClient(deps, { region });
    const assume = (externalId: string | undefined) =>
      sts.send(
        new AssumeRoleCommand({
          RoleArn: auth.roleArn.trim(),
          RoleSessionName: roleSessionName(input.jobId),
          DurationSeconds: boundedDuration(input.durationSeconds),
          ...(externalId ? { ExternalId: externalId } : {}),
        }),
      );
    let assumed: AssumeRoleCommandOutput;
    try {
      assumed = await assume(auth.externalId);
    } catch (err) {
      // During a rotation's overlap the role may still trust only the previous external ID.
      const denied = /^AccessDenied/.test(awsErrorCode(err) ?? '');
      if (!denied || !auth.previousExternalId) throw assumeRoleError(err, auth.roleArn.trim(), Boolean(auth.externalId));
      try {
        assumed = await assume(auth.previousExternalId);
      } catch (again) {
        throw assumeRoleError(again, auth.roleArn.trim(), true);
      }
    }
    const c = assumed.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) {
      throw new AwsTransientError('STS AssumeRole returned no credentials; it will be retried.');
    }
    credentials = {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
      ...(c.Expiration ? { expiration: new Date(c.Expiration) } : {}),
    };
  } else if (auth.method === 'access_keys') {
    if (!auth.accessKeyId || !/^\w{16,128}$/.test(auth.accessKeyId)) {
      throwInvalid(
        'The access key id must be 16 to 128 letters and digits (it usually starts with AKIA or ASIA).',
        'auth.accessKeyId',
      );
    }
    if (!auth.secretAccessKey) throwInvalid('The secret access key is required.', 'auth.secretAccessKey');
    credentials = {
      accessKeyId: auth.accessKeyId,
      secretAccessKey: auth.secretAccessKey,
      ...(auth.sessionToken ? { sessionToken: auth.sessionToken } : {}),
    };
  } else {
    throwInvalid(`Unknown auth method "${String((auth as { method?: unknown }).method)}".`, 'auth.method');
  }

  const sts = stsClient(deps, { region, credentials: { ...credentials } });
  let identity: GetCallerIdentityCommandOutput;
  try {
    identity = await sts.send(new GetCallerIdentityCommand({}));
  } catch (err) {
    throw mapAwsError(err, {
      operation: 'sts:GetCallerIdentity',
      field: auth.method === 'access_keys' ? 'auth.accessKeyId' : undefined,
    });
  }
  if (!identity.Account || !identity.Arn) {
    throw new AwsTransientError('STS GetCallerIdentity returned no account; it will be retried.');
  }
  checkAllowedAccount(identity.Account, input.allowedAccountIds, `of ${identity.Arn}`);
  return { credentials: sealed(credentials), accountId: identity.Account, arn: identity.Arn };
}

function assumeRoleError(err: unknown, roleArn: string, withExternalId: boolean): TypedAwsError {
  const code = awsErrorCode(err);
  if (code === 'AccessDenied' || code === 'AccessDeniedException') {
    return new AccessDeniedError(
      `AWS refused to let the service assume ${roleArn} (AccessDenied). Usually: the role's trust policy does not ` +
        `allow the worker's AWS principal to call sts:AssumeRole` +
        (withExternalId
          ? `, or the external ID given does not match the sts:ExternalId condition in the trust policy`
          : `, or the trust policy requires an external ID and none was given`) +
        `; it also happens when the worker's own identity lacks sts:AssumeRole on this role, or the role does not exist.`,
      { awsCode: code, field: 'auth.roleArn' },
    );
  }
  if (code === 'RegionDisabledException') {
    return new AccessDeniedError(
      "STS is not activated for this region in the worker's account (RegionDisabledException): activate it in IAM account settings, or pick another region.",
      { awsCode: code, field: 'region' },
    );
  }
  if (code === 'MalformedPolicyDocument' || code === 'PackedPolicyTooLarge') {
    return new InvalidInputError(`STS refused the role session (${code}).`, { awsCode: code, field: 'auth.roleArn' });
  }
  if (code === 'ValidationError') {
    const msg = ((err as SdkErrorLike).message ?? '').slice(0, 300);
    return new InvalidInputError(
      /MaxSessionDuration/i.test(msg)
        ? `The requested session is longer than the role's maximum session duration: ${msg}`
        : `STS refused the AssumeRole request for ${roleArn}: ${msg}`,
      { awsCode: code, field: 'auth.roleArn' },
    );
  }
  return mapAwsError(err, { operation: 'sts:AssumeRole', subject: `on ${roleArn}` });
}

// ---------------------------------------------------------------------------
// Terraform's environment
// ---------------------------------------------------------------------------

/**
 * The only way credentials reach the terraform child: its environment.
 * AWS_ENDPOINT_URL* of the worker are copied so terraform talks to the same
 * endpoints (moto, LocalStack) as the SDK clients here.
 */
export function terraformEnv(
  credentials: JobCredentials,
  region: string,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const out: Record<string, string> = {
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
  };
  if (credentials.sessionToken) out.AWS_SESSION_TOKEN = credentials.sessionToken;
  for (const [key, value] of Object.entries(env)) {
    if (value && (key === 'AWS_ENDPOINT_URL' || key.startsWith('AWS_ENDPOINT_URL_'))) out[key] = value;
  }
  return out;
}
