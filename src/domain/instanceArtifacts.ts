import { renderComposeYaml } from './composeFile.js';
import type { ContainerSpec } from './containers.js';
import { usersToCsv } from './usersCsv.js';

/**
 * What the instance fetches at boot when ARTIFACTS_BUCKET is set: the job's files, the prefix they live
 * under and the checks that keep the bucket, prefix and region inside the script's single quotes.
 */

const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Job ids land in S3 keys and in the first-boot script: a closed character set keeps them harmless in both. */
export function checkJobId(jobId: string): void {
  if (!JOB_ID.test(jobId)) throw new Error(`jobId "${jobId}" may only contain letters, digits, _ and - (1-64 characters)`);
}

/** Where the instance fetches its files: the job's own prefix, which its role may read. */
export interface UserDataArtifacts {
  bucket: string;
  /** The job's key prefix without a trailing slash, e.g. provisioning/artifacts/<jobId> (artifactsJobPrefix). */
  keyPrefix: string;
  region: string;
}

/** The objects of ARTIFACTS_BUCKET, under the job's prefix; the instance writes them to /opt/app under the same names. */
export const ARTIFACT_FILES = ['docker-compose.yml', 'users.csv'] as const;
export type ArtifactFile = (typeof ARTIFACT_FILES)[number];

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** Names of letters, digits, . _ and -, none starting with . (so no . or ..), joined by single slashes. */
const KEY_PREFIX = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/** ARTIFACTS_PREFIX and a job id → the job's own prefix, no slash at either end ("provisioning/artifacts/j1"). */
export function artifactsJobPrefix(prefix: string, jobId: string): string {
  checkJobId(jobId);
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  return trimmed ? `${trimmed}/${jobId}` : jobId;
}

/** The users CSV the instance gets: an empty APP_USERS_B64 would stop compose (see renderComposeYaml), so no users is a header-only file. */
function instanceUsersCsv(usersCsv: string | undefined) {
  return usersCsv && usersCsv.trim() !== '' ? usersCsv : usersToCsv([]);
}

/** The files the instance needs, by name: what goes to S3 with ARTIFACTS_BUCKET, byte for byte what the embedded script writes. */
export function renderArtifactFiles({
  containers,
  usersCsv,
}: {
  containers: readonly ContainerSpec[];
  /** Canonical users CSV; absent or "" means no users, header only. */
  usersCsv?: string;
}): Record<ArtifactFile, string> {
  return { 'docker-compose.yml': renderComposeYaml(containers), 'users.csv': instanceUsersCsv(usersCsv) };
}

export function checkArtifacts(artifacts: UserDataArtifacts) {
  // Each lands in single quotes in the script: a closed character set keeps them there.
  if (!BUCKET.test(artifacts.bucket)) throw new Error(`artifacts bucket "${artifacts.bucket}" is not an S3 bucket name`);
  if (!KEY_PREFIX.test(artifacts.keyPrefix)) {
    throw new Error(
      `artifacts key prefix "${artifacts.keyPrefix}" must be names of letters, digits, . _ and - (none starting with .) between single slashes`,
    );
  }
  if (!REGION.test(artifacts.region)) throw new Error(`artifacts region "${artifacts.region}" is not an AWS region`);
}
