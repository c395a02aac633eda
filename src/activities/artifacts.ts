import { DeleteObjectCommand, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { ARTIFACT_FILES, type ArtifactFile, artifactsJobPrefix, type UserDataArtifacts } from '../domain/instanceArtifacts.js';
import { AccessDeniedError, InvalidInputError, awsErrorCode, mapAwsError, type TypedAwsError } from './awsErrors.js';
import { AWS_REQUEST_HANDLER } from './awsCredentials.js';

/**
 * The optional artifacts bucket (ARTIFACTS_BUCKET). EC2 user data holds at
 * most 16 KB, so with a bucket the compose file and the users CSV of a job go
 * to `s3://<bucket>/<ARTIFACTS_PREFIX>/<jobId>/` instead (encrypted at rest
 * with SSE-S3), the instance's role may read that prefix only (the AWS
 * module's `artifacts_*` variables), the first-boot script fetches them, and
 * the destroy step deletes them.
 *
 * The bucket is the operator's: these calls use the worker's own AWS
 * credentials (the SDK's default chain), never a job's assumed role. The
 * worker needs s3:PutObject and s3:DeleteObject on the prefix.
 */

export interface ArtifactsStore {
  bucket: string;
  region: string;
  /** ARTIFACTS_PREFIX: each job's files are under <prefix>/<jobId>/. */
  prefix: string;
  /** An S3-compatible endpoint (MinIO, moto); path-style addressing then. */
  endpoint?: string;
}

export interface ArtifactsDeps {
  /** Builds the S3 client (tests may pass their own). */
  createS3Client?: (config: S3ClientConfig) => S3Client;
}

/** What the first-boot script and the module's instance policy are given for a job. */
export function userDataArtifacts(store: ArtifactsStore, jobId: string): UserDataArtifacts {
  return { bucket: store.bucket, keyPrefix: artifactsJobPrefix(store.prefix, jobId), region: store.region };
}

export function artifactKey(store: ArtifactsStore, jobId: string, file: ArtifactFile): string {
  return `${artifactsJobPrefix(store.prefix, jobId)}/${file}`;
}

/** s3://bucket/prefix/jobId/, for log lines. */
export function artifactsLocation(store: ArtifactsStore, jobId: string): string {
  return `s3://${store.bucket}/${artifactsJobPrefix(store.prefix, jobId)}/`;
}

/** Every job's objects: `<prefix>/*`. */
function prefixPattern(store: ArtifactsStore): string {
  const trimmed = store.prefix.replace(/^\/+|\/+$/g, '');
  return trimmed ? `${trimmed}/*` : '*';
}

function s3Client(store: ArtifactsStore, deps: ArtifactsDeps): S3Client {
  const config: S3ClientConfig = {
    region: store.region,
    requestHandler: AWS_REQUEST_HANDLER,
    ...(store.endpoint ? { endpoint: store.endpoint, forcePathStyle: true } : {}),
  };
  return deps.createS3Client ? deps.createS3Client(config) : new S3Client(config);
}

/** The SDK's error as one of ours, saying that it is the worker's identity (not the job's) that needs the permission. */
function artifactsError(err: unknown, store: ArtifactsStore, operation: string, key: string): TypedAwsError {
  const code = awsErrorCode(err);
  const where = `s3://${store.bucket}/${key}`;
  if (code === 'NoSuchBucket') {
    return new InvalidInputError(`ARTIFACTS_BUCKET "${store.bucket}" does not exist (NoSuchBucket on ${operation} ${where})`, {
      awsCode: code,
    });
  }
  const mapped = mapAwsError(err, { operation, subject: `on ${where}` });
  if (mapped instanceof AccessDeniedError) {
    return new AccessDeniedError(
      `The worker's own AWS credentials may not call ${operation} on ${where} (${code}): ARTIFACTS_BUCKET belongs to the ` +
        `operator, and the worker's identity needs s3:PutObject and s3:DeleteObject on arn:aws:s3:::${store.bucket}/${prefixPattern(store)}.`,
      { awsCode: mapped.awsCode },
    );
  }
  return mapped;
}

/** Uploads the job's files (SSE-S3), replacing any earlier render's; returns the keys written. */
export async function uploadArtifacts(
  store: ArtifactsStore,
  jobId: string,
  files: Record<ArtifactFile, string>,
  opts: { signal?: AbortSignal } & ArtifactsDeps = {},
): Promise<string[]> {
  const client = s3Client(store, opts);
  const keys: string[] = [];
  try {
    for (const file of ARTIFACT_FILES) {
      const key = artifactKey(store, jobId, file);
      try {
        await client.send(
          new PutObjectCommand({
            Bucket: store.bucket,
            Key: key,
            Body: Buffer.from(files[file], 'utf8'),
            ContentType: file.endsWith('.csv') ? 'text/csv; charset=utf-8' : 'application/yaml; charset=utf-8',
            ServerSideEncryption: 'AES256',
          }),
          { abortSignal: opts.signal },
        );
      } catch (err) {
        throw artifactsError(err, store, 's3:PutObject', key);
      }
      keys.push(key);
    }
    return keys;
  } finally {
    client.destroy();
  }
}

/** Deletes the job's files; objects (or a prefix) that are already gone count as deleted. */
export async function deleteArtifacts(
  store: ArtifactsStore,
  jobId: string,
  opts: { signal?: AbortSignal } & ArtifactsDeps = {},
): Promise<string[]> {
  const client = s3Client(store, opts);
  const keys: string[] = [];
  try {
    for (const file of ARTIFACT_FILES) {
      const key = artifactKey(store, jobId, file);
      try {
        // S3 answers 204 for a key that does not exist: nothing to tell apart.
        await client.send(new DeleteObjectCommand({ Bucket: store.bucket, Key: key }), { abortSignal: opts.signal });
      } catch (err) {
        if (awsErrorCode(err) === 'NoSuchKey') continue;
        throw artifactsError(err, store, 's3:DeleteObject', key);
      }
      keys.push(key);
    }
    return keys;
  } finally {
    client.destroy();
  }
}
