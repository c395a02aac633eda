/**
 * Errors of the AWS activities: every error they throw carries a string
 * `type` (src/activities/failures.ts turns it into a Temporal failure), and
 * the SDK's error codes are sorted here into bad input, access denied,
 * invalid credentials and transient trouble.
 */

export type AwsErrorType =
  | 'InvalidInput'
  | 'AccessDenied'
  | 'InvalidCredentials'
  | 'PreflightFailed'
  | 'NotReady'
  | 'InstanceCommandFailed'
  | 'AwsTransient';

export abstract class TypedAwsError extends Error {
  abstract readonly type: AwsErrorType;
  /** The form field the error is about, e.g. `auth.roleArn`, `network.subnetId`. */
  readonly field?: string;
  /** The AWS error code behind it, when there was one (never a secret). */
  readonly awsCode?: string;

  constructor(message: string, opts: { field?: string; awsCode?: string } = {}) {
    super(message);
    this.name = new.target.name;
    if (opts.field) this.field = opts.field;
    if (opts.awsCode) this.awsCode = opts.awsCode;
  }
}

export class InvalidInputError extends TypedAwsError {
  readonly type = 'InvalidInput' as const;
}
export class AccessDeniedError extends TypedAwsError {
  readonly type = 'AccessDenied' as const;
}
export class InvalidCredentialsError extends TypedAwsError {
  readonly type = 'InvalidCredentials' as const;
}
export class AwsTransientError extends TypedAwsError {
  readonly type = 'AwsTransient' as const;
}

const ACCESS_DENIED_CODES = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'UnauthorizedAccess',
  'OptInRequired',
]);

const INVALID_CREDENTIAL_CODES = new Set([
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'AuthFailure',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidAccessKeyId',
  'UnrecognizedClientException',
  'InvalidToken',
  'IncompleteSignature',
  'MissingAuthenticationToken',
]);

const TRANSIENT_CODES = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'SlowDown',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'Unavailable',
  'InternalError',
  'InternalFailure',
  'InternalServerError',
  'RequestTimeout',
  'RequestTimeoutException',
  'RequestExpired',
  'IDPCommunicationError',
  'PriorRequestNotComplete',
  'TimeoutError',
  'NetworkingError',
]);

const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

export interface SdkErrorLike {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
}

/** The AWS error code of an SDK error (`name` for modeled and unmodeled errors alike). */
export function awsErrorCode(err: unknown): string | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as SdkErrorLike;
  return e.Code ?? e.name;
}

/**
 * Maps an SDK error from one AWS call to our typed errors. `operation` is the
 * IAM action the call needs (`ec2:DescribeSubnets`), named in AccessDenied so
 * the person fixing the role's policy knows what to add. Errors that are
 * already typed pass through. AWS messages never contain secrets; they are
 * kept only where they add something a person can act on.
 */
export function mapAwsError(err: unknown, ctx: { operation: string; subject?: string; field?: string }): TypedAwsError {
  if (err instanceof TypedAwsError) return err;
  const e = (err ?? {}) as SdkErrorLike;
  const code = awsErrorCode(err) ?? 'Error';
  const awsMessage = typeof e.message === 'string' ? e.message.slice(0, 300) : '';
  const subject = ctx.subject ? ` ${ctx.subject}` : '';

  if (ACCESS_DENIED_CODES.has(code)) {
    if (code === 'OptInRequired') {
      return new AccessDeniedError(
        `The account is not subscribed to this AWS service in this region (OptInRequired on ${ctx.operation}).`,
        { awsCode: code, field: ctx.field },
      );
    }
    return new AccessDeniedError(
      `The job's credentials are not allowed to call ${ctx.operation}${subject} (${code}). ` +
        `Add ${ctx.operation} to the permissions of the role (or user) the job runs as.`,
      { awsCode: code },
    );
  }
  if (INVALID_CREDENTIAL_CODES.has(code)) {
    const expired = /expired/i.test(code) || /expired/i.test(awsMessage);
    return new InvalidCredentialsError(
      expired
        ? `The AWS credentials have expired (${code} on ${ctx.operation}). Provide fresh credentials.`
        : `AWS did not accept the credentials (${code} on ${ctx.operation}): the access key id does not exist, ` +
            `was deactivated, or the secret access key or session token does not match it.`,
      { awsCode: code, field: ctx.field },
    );
  }
  if (code === 'CredentialsProviderError') {
    // The worker's own base credentials (env, profile, instance role) are missing.
    return new InvalidCredentialsError(
      `The worker has no AWS credentials of its own to call ${ctx.operation} with ` +
        `(set them through the usual AWS chain: environment, profile or instance role).`,
      { awsCode: code },
    );
  }
  const status = e.$metadata?.httpStatusCode;
  const errnoCode = typeof e.code === 'string' ? e.code : undefined;
  if (
    TRANSIENT_CODES.has(code) ||
    e.$fault === 'server' ||
    (status !== undefined && status >= 500) ||
    (errnoCode && NETWORK_ERROR_CODES.has(errnoCode))
  ) {
    return new AwsTransientError(
      `AWS call ${ctx.operation}${subject} failed temporarily (${errnoCode ?? code}); it will be retried.`,
      { awsCode: code },
    );
  }
  if (e.$fault === 'client') {
    return new InvalidInputError(`AWS refused ${ctx.operation}${subject}: ${code}${awsMessage ? `: ${awsMessage}` : ''}`, {
      awsCode: code,
      field: ctx.field,
    });
  }
  // Not an AWS answer at all (network stack, SDK internals): retry.
  return new AwsTransientError(
    `AWS call ${ctx.operation}${subject} failed: ${errnoCode ?? code}${awsMessage ? `: ${awsMessage}` : ''}`,
    { awsCode: code },
  );
}
