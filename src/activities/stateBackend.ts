import syncFs from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * The optional S3 backend for job state (TF_STATE_BUCKET). Each job's state
 * is the object `<TF_STATE_KEY_PREFIX>/<jobId>/terraform.tfstate`, so any
 * worker host can run any job's later steps and its destroy, rebuilding the
 * workspace from the job when it is not on that host. Locking is S3's own
 * lock file (`use_lockfile`, Terraform 1.10+) unless TF_STATE_LOCK_TABLE
 * names a DynamoDB table.
 *
 * The workspace gets `backend.tf` (an empty `backend "s3" {}` block) and
 * `backend.s3.tfbackend` (the settings, no credentials), which `terraform
 * init` reads through `-backend-config`. The backend authenticates like the
 * job's provider, with the job's short-lived credentials from the child's
 * environment, so the bucket policy must let the job roles use their prefix
 * (or set TF_STATE_ROLE_ARN for a role the backend assumes).
 */

export interface S3StateBackend {
  bucket: string;
  region: string;
  keyPrefix: string;
  /** A DynamoDB table for locks; without one, S3's native lock file is used. */
  lockTable?: string;
  /** A role the backend assumes for the bucket (cross-account state). */
  roleArn?: string;
  /** An S3-compatible endpoint (MinIO, moto); path-style addressing then. */
  endpoint?: string;
}

export const BACKEND_TF = 'backend.tf';
export const BACKEND_CONFIG_FILE = 'backend.s3.tfbackend';

// Values reach HCL files: a closed character set keeps quotes and ${ out of them.
const SAFE = /^[A-Za-z0-9._:/@+=,-]+$/;

function hclString(name: string, value: string): string {
  if (!SAFE.test(value)) throw new Error(`${name} ${JSON.stringify(value)} holds characters a backend setting cannot`);
  return `"${value}"`;
}

export function stateKey(backend: S3StateBackend, jobId: string): string {
  const prefix = backend.keyPrefix.replace(/^\/+|\/+$/g, '');
  return `${prefix ? `${prefix}/` : ''}${jobId}/terraform.tfstate`;
}

/** The two files, by name. */
export function renderBackendFiles(backend: S3StateBackend, jobId: string): Record<string, string> {
  const lines = [
    `bucket  = ${hclString('TF_STATE_BUCKET', backend.bucket)}`,
    `key     = ${hclString('state key', stateKey(backend, jobId))}`,
    `region  = ${hclString('TF_STATE_REGION', backend.region)}`,
    `encrypt = true`,
    backend.lockTable ? `dynamodb_table = ${hclString('TF_STATE_LOCK_TABLE', backend.lockTable)}` : `use_lockfile = true`,
  ];
  if (backend.roleArn)
    lines.push(
      `assume_role = {\n  role_arn     = ${hclString('TF_STATE_ROLE_ARN', backend.roleArn)}\n  session_name = "provisioning-state"\n}`,
    );
  if (backend.endpoint) {
    lines.push(`endpoints = {\n  s3 = ${hclString('TF_STATE_ENDPOINT', backend.endpoint)}\n}`, 'use_path_style = true');
  }
  return {
    [BACKEND_TF]:
      "# Written by the provisioning service: this job's state lives in S3 (TF_STATE_BUCKET);\n" +
      `# its settings are in ${BACKEND_CONFIG_FILE}, given to \`terraform init -backend-config\`.\n` +
      'terraform {\n  backend "s3" {}\n}\n',
    [BACKEND_CONFIG_FILE]: `${lines.join('\n')}\n`,
  };
}

/** Writes the backend files into a workspace, or removes them when there is no backend. */
export async function writeBackendFiles(dir: string, jobId: string, backend: S3StateBackend | undefined): Promise<void> {
  if (!backend) {
    await fs.rm(path.join(dir, BACKEND_TF), { force: true });
    await fs.rm(path.join(dir, BACKEND_CONFIG_FILE), { force: true });
    return;
  }
  for (const [name, text] of Object.entries(renderBackendFiles(backend, jobId))) {
    await fs.writeFile(path.join(dir, name), text, { mode: 0o600 });
  }
}

/** The `init` arguments for a workspace: `-backend-config` when it has a backend. */
export function backendInitArgs(dir: string): string[] {
  return syncFs.existsSync(path.join(dir, BACKEND_CONFIG_FILE)) ? [`-backend-config=${BACKEND_CONFIG_FILE}`] : [];
}

export function usesRemoteState(dir: string): boolean {
  return syncFs.existsSync(path.join(dir, BACKEND_TF));
}
