import fs from 'node:fs/promises';
import path from 'node:path';

/** A job id that cannot name a workspace (it could escape JOBS_WORKDIR): bad input, never retried. */
export class InvalidJobIdError extends Error {
  readonly type = 'InvalidInput';
  readonly retryable = false;
  constructor(jobId: string) {
    super(`job id ${JSON.stringify(jobId.slice(0, 80))} cannot name a workspace: expected ^[a-z0-9][a-z0-9-]{2,63}$`);
    this.name = 'InvalidJobIdError';
  }
}

/** The module directory is missing or holds no Terraform files: a configuration mistake a retry cannot fix. */
export class ModuleNotFoundError extends Error {
  readonly type = 'TerraformConfigError';
  readonly retryable = false;
  constructor(moduleDir: string) {
    super(`no Terraform module (*.tf files) in ${moduleDir}`);
    this.name = 'ModuleNotFoundError';
  }
}

const JOB_ID = /^[a-z0-9][a-z0-9-]{2,63}$/;

export const TFVARS_FILE = 'terraform.tfvars.json';

/** The job's workspace, built from the job id alone so nothing a user typed can point elsewhere. */
export function jobWorkspaceDir(jobsWorkdir: string, jobId: string): string {
  if (typeof jobId !== 'string' || !JOB_ID.test(jobId)) throw new InvalidJobIdError(String(jobId));
  return path.join(path.resolve(jobsWorkdir), jobId);
}

// What Terraform made in a workspace, or what must never be copied into one:
// state and plugins belong to the job; a tfvars file in the module dir would be
// loaded automatically on top of the job's own.
function isModuleFile(name: string): boolean {
  if (name === '.terraform.lock.hcl') return true;
  if (name.startsWith('.')) return false;
  if (name.startsWith('terraform.tfstate') || name === 'tfplan') return false;
  if (name.endsWith('.tfvars') || name.endsWith('.tfvars.json')) return false;
  return true;
}

const isTerraformSource = (name: string) => name.endsWith('.tf') || name.endsWith('.tf.json');

async function copyModuleTree(from: string, to: string): Promise<void> {
  for (const entry of await fs.readdir(from, { withFileTypes: true })) {
    if (!isModuleFile(entry.name)) continue;
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) {
      await fs.mkdir(dst, { recursive: true, mode: 0o700 });
      await copyModuleTree(src, dst);
    } else if (entry.isFile()) {
      await fs.copyFile(src, dst);
      // Private to the worker; a module's own helper scripts stay executable.
      const executable = ((await fs.stat(src)).mode & 0o100) !== 0;
      await fs.chmod(dst, executable ? 0o700 : 0o600);
    }
  }
}

export interface PrepareWorkspaceOptions {
  jobsWorkdir: string;
  jobId: string;
  moduleDir: string;
  tfvars: object;
}

/**
 * Creates (or refreshes, for a retried activity) the job's workspace and
 * returns its path: the module's files and `terraform.tfvars.json` are
 * written anew; the state and `.terraform` of earlier runs are kept.
 */
export async function prepareWorkspace(opts: PrepareWorkspaceOptions): Promise<string> {
  const dir = jobWorkspaceDir(opts.jobsWorkdir, opts.jobId);
  const moduleFiles = await fs.readdir(opts.moduleDir).catch(() => [] as string[]);
  if (!moduleFiles.some(isTerraformSource)) throw new ModuleNotFoundError(opts.moduleDir);

  await fs.mkdir(path.dirname(dir), { recursive: true, mode: 0o700 });
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir leaves an existing directory's mode alone, and the workspace holds state.
  await fs.chmod(dir, 0o700);

  // A .tf file dropped from the module since the last try must not linger and still be loaded.
  const wanted = new Set(moduleFiles);
  for (const name of await fs.readdir(dir)) {
    if (isTerraformSource(name) && !wanted.has(name)) await fs.rm(path.join(dir, name));
  }
  await copyModuleTree(opts.moduleDir, dir);

  // Written aside and renamed, so a crash never leaves half a tfvars file for the next try.
  const tfvars = path.join(dir, TFVARS_FILE);
  const tmp = `${tfvars}.${process.pid}.tmp`;
  await fs.writeFile(tmp, `${JSON.stringify(opts.tfvars, null, 2)}\n`, { mode: 0o600 });
  await fs.chmod(tmp, 0o600);
  await fs.rename(tmp, tfvars);
  return dir;
}
