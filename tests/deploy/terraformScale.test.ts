import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockTimeoutError, withFileLock } from '../../src/activities/fileLock.js';
import {
  BACKEND_CONFIG_FILE,
  BACKEND_TF,
  backendInitArgs,
  renderBackendFiles,
  stateKey,
  writeBackendFiles,
  type S3StateBackend,
} from '../../src/activities/stateBackend.js';
import {
  PLUGIN_CACHE_LOCK,
  terraformApply,
  terraformDestroy,
  terraformInit,
  terraformPlan,
  type TerraformContext,
} from '../../src/activities/terraformCommands.js';
import type { LineSink } from '../../src/activities/terraformProcess.js';
import { stateHasResources } from '../../src/activities/stateFile.js';
import { prepareWorkspace } from '../../src/activities/workspace.js';
import { redactorFor } from '../../src/domain/redact.js';
import { parseConfig } from '../../src/config.js';
import { activityDepsFromConfig } from '../../src/worker/worker.js';
import { MOTO_ACCESS_KEY_ID, startMoto, type Moto } from '../support/moto.js';
import { SANDBOX_MODULE } from '../support/jobs.js';
import { ROOT, childEnv, waitExit } from '../support/processes.js';
import { tempDir } from '../support/tempDb.js';
import type { Db } from '../../src/db/database.js';

/**
 * Terraform at scale: inits sharing one provider cache take turns through a
 * cross-process lock, and job state can live in S3 so another host (another
 * JOBS_WORKDIR) can reach it.
 */

const dirs: string[] = [];
function scratch(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function child(args: string[]) {
  return spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'tests', 'support', 'lockChild.ts'), ...args], {
    cwd: ROOT,
    env: childEnv({}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function runChild(args: string[]): Promise<void> {
  const c = child(args);
  let out = '';
  c.stdout.on('data', (d) => (out += d));
  c.stderr.on('data', (d) => (out += d));
  const code = await waitExit(c, 60_000);
  if (code !== 0) throw new Error(`child ${args.join(' ')} exited ${code}: ${out}`);
}

function quietSink(): LineSink & { lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (_s, l) => void lines.push(l), flush: async () => {}, redact: redactorFor([]), pending: 0 };
}

/** Asserts a start/end log never interleaves: each start is followed by its own end. */
function expectNoOverlap(log: string[]) {
  expect(log.length % 2).toBe(0);
  for (let i = 0; i < log.length; i += 2) {
    const [kind, pid] = log[i].split(' ');
    expect(kind, log.join('\n')).toBe('start');
    expect(log[i + 1], log.join('\n')).toBe(`end ${pid}`);
  }
}

describe('withFileLock', () => {
  it('lets one process at a time hold it, across processes and within one', async () => {
    const dir = scratch('prov-lock-');
    const lock = path.join(dir, 'x.lock');
    const logFile = path.join(dir, 'log');
    fs.writeFileSync(logFile, '');
    const inProcess = [1, 2].map(() =>
      withFileLock(
        lock,
        async () => {
          fs.appendFileSync(logFile, `start ${process.pid}\n`);
          await new Promise((r) => setTimeout(r, 60));
          fs.appendFileSync(logFile, `end ${process.pid}\n`);
        },
        { pollMs: 20 },
      ),
    );
    await Promise.all([...[1, 2, 3].map(() => runChild(['lock', lock, logFile, '3'])), ...inProcess]);
    const log = fs.readFileSync(logFile, 'utf8').trim().split('\n');
    expect(log).toHaveLength(2 * (3 * 3 + 2));
    expectNoOverlap(log);
    expect(fs.existsSync(lock)).toBe(false);
  }, 90_000);

  it('breaks the lock of a process on this host that died holding it', async () => {
    const dir = scratch('prov-lock-');
    const lock = path.join(dir, 'x.lock');
    const dead = spawnSync('true').pid!;
    fs.writeFileSync(
      lock,
      JSON.stringify({ pid: dead, host: os.hostname(), token: 'dead', acquiredAt: new Date().toISOString() }),
    );
    const started = Date.now();
    expect(await withFileLock(lock, async () => 'ran', { pollMs: 20 })).toBe('ran');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('waits for a live lock from another host, and breaks it once its mtime is older than staleMs', async () => {
    const dir = scratch('prov-lock-');
    const lock = path.join(dir, 'x.lock');
    fs.writeFileSync(lock, JSON.stringify({ pid: 1, host: 'other-host', token: 'other', acquiredAt: new Date().toISOString() }));
    const waits: unknown[] = [];
    await expect(
      withFileLock(lock, async () => 'ran', { staleMs: 60_000, timeoutMs: 500, pollMs: 20, onWait: (h) => waits.push(h) }),
    ).rejects.toBeInstanceOf(LockTimeoutError);
    expect(waits.length).toBeGreaterThan(3);
    expect(waits[0]).toMatchObject({ host: 'other-host', pid: 1 });
    // Its holder stopped refreshing it ten minutes ago.
    const old = new Date(Date.now() - 10 * 60_000);
    fs.utimesSync(lock, old, old);
    expect(await withFileLock(lock, async () => 'ran', { staleMs: 60_000, pollMs: 20 })).toBe('ran');
  });

  it('stops waiting on abort, and keeps a lock it does not own', async () => {
    const dir = scratch('prov-lock-');
    const lock = path.join(dir, 'x.lock');
    let release!: () => void;
    const holding = withFileLock(lock, () => new Promise<void>((r) => (release = r)), { pollMs: 20 });
    await new Promise((r) => setTimeout(r, 50));
    const ac = new AbortController();
    const waiting = withFileLock(lock, async () => 'ran', { signal: ac.signal, pollMs: 20 });
    setTimeout(() => ac.abort(new Error('cancelled')), 100);
    await expect(waiting).rejects.toThrow(/cancelled|abort/i);
    expect(fs.existsSync(lock)).toBe(true);
    release();
    await holding;
    expect(fs.existsSync(lock)).toBe(false);
  });
});

describe('terraformInit with a shared provider cache', () => {
  /** A terraform stand-in whose init fails when another init is running on the same cache. */
  function fakeTerraform(dir: string): string {
    const bin = path.join(dir, 'terraform');
    fs.writeFileSync(
      bin,
      `#!/bin/sh
set -e
busy="$TF_PLUGIN_CACHE_DIR/busy"
if ! (set -C; : > "$busy") 2>/dev/null; then echo "concurrent init on the cache" >&2; exit 1; fi
echo "$$ $*" >> "$TF_PLUGIN_CACHE_DIR/inits"
sleep 0.2
rm -f "$busy"
echo "Terraform has been successfully initialized!"
`,
      { mode: 0o755 },
    );
    return bin;
  }

  it('runs concurrent inits from several processes one at a time, heartbeating while they wait', async () => {
    const dir = scratch('prov-cache-');
    const cache = path.join(dir, 'plugin-cache');
    const bin = fakeTerraform(dir);
    const workspace = (n: string) => {
      const w = path.join(dir, `ws-${n}`);
      fs.mkdirSync(w);
      return w;
    };
    const beats = [0, 0, 0];
    const sinks = [quietSink(), quietSink(), quietSink()];
    const local = [0, 1, 2].map((i) =>
      terraformInit({
        binary: bin,
        workspaceDir: workspace(`local-${i}`),
        env: { TF_PLUGIN_CACHE_DIR: cache },
        sink: sinks[i],
        graceMs: 2_000,
        onHeartbeat: () => void beats[i]++,
      }),
    );
    const remote = [0, 1].map((i) => runChild(['init', workspace(`child-${i}`), cache, bin]));
    await Promise.all([...local, ...remote]);
    const inits = fs.readFileSync(path.join(cache, 'inits'), 'utf8').trim().split('\n');
    expect(inits).toHaveLength(5);
    expect(fs.existsSync(path.join(cache, PLUGIN_CACHE_LOCK))).toBe(false);
    // Someone waited, kept its activity alive and said why in the job log.
    expect(beats.some((n) => n > 0)).toBe(true);
    expect(sinks.flatMap((s) => s.lines).some((l) => /waiting for the provider cache/.test(l))).toBe(true);
  }, 90_000);

  it('works with the real terraform on the sandbox module', async () => {
    const dir = scratch('prov-cache-real-');
    const cache = path.join(dir, 'plugin-cache');
    await Promise.all(
      [0, 1, 2].map(async (i) => {
        const ws = await prepareWorkspace({
          jobsWorkdir: dir,
          jobId: `cache-job-${i}`,
          moduleDir: SANDBOX_MODULE,
          tfvars: sandboxVars(`cache-job-${i}`),
        });
        await terraformInit({
          binary: 'terraform',
          workspaceDir: ws,
          env: { TF_PLUGIN_CACHE_DIR: cache },
          sink: quietSink(),
          graceMs: 5_000,
        });
      }),
    );
    expect(fs.existsSync(path.join(cache, PLUGIN_CACHE_LOCK))).toBe(false);
  }, 90_000);

  it('is configured by TF_PLUGIN_CACHE_DIR', () => {
    const config = parseConfig(
      { TF_PLUGIN_CACHE_DIR: 'cache/tf', TF_STATE_BUCKET: 'my-state', TF_STATE_REGION: 'eu-west-1' },
      '/srv/app',
    );
    const deps = activityDepsFromConfig(config, {} as Db);
    expect(deps.settings.pluginCacheDir).toBe('/srv/app/cache/tf');
    expect(deps.settings.stateBackend).toEqual({
      bucket: 'my-state',
      region: 'eu-west-1',
      keyPrefix: 'provisioning/jobs',
      lockTable: undefined,
      roleArn: undefined,
      endpoint: undefined,
    });
    expect(() => parseConfig({ TF_STATE_BUCKET: 'my-state' })).toThrow(/TF_STATE_REGION: required/);
    expect(() => parseConfig({ TF_STATE_BUCKET: 'My_Bucket', TF_STATE_REGION: 'eu-west-1' })).toThrow(/TF_STATE_BUCKET/);
  });
});

function sandboxVars(jobId: string) {
  return {
    job_id: jobId,
    job_name: jobId,
    requester: 'alice@example.com',
    region: 'us-east-1',
    instance_type: 't3.micro',
    volume_size_gb: 20,
    ami_id: 'ami-0123456789abcdef0',
    user_data: '#!/bin/sh\n',
    published_ports: [],
  };
}

describe('the S3 state backend', () => {
  const backend: S3StateBackend = { bucket: 'prov-state', region: 'eu-west-1', keyPrefix: '/provisioning/jobs/' };

  it('renders backend.tf and the -backend-config file, with S3 native locking by default', () => {
    const files = renderBackendFiles(backend, 'job-123');
    expect(Object.keys(files).sort()).toEqual([BACKEND_CONFIG_FILE, BACKEND_TF].sort());
    expect(files[BACKEND_TF]).toMatch(/terraform \{\n {2}backend "s3" \{\}\n\}/);
    expect(files[BACKEND_CONFIG_FILE]).toBe(
      [
        'bucket  = "prov-state"',
        'key     = "provisioning/jobs/job-123/terraform.tfstate"',
        'region  = "eu-west-1"',
        'encrypt = true',
        'use_lockfile = true',
        '',
      ].join('\n'),
    );
    expect(stateKey({ ...backend, keyPrefix: '' }, 'j1')).toBe('j1/terraform.tfstate');
  });

  it('uses a DynamoDB lock table, an assumed role and an S3-compatible endpoint when configured', () => {
    const text = renderBackendFiles(
      {
        ...backend,
        lockTable: 'tf-locks',
        roleArn: 'arn:aws:iam::123456789012:role/StateWriter',
        endpoint: 'http://minio:9000',
      },
      'job-1',
    )[BACKEND_CONFIG_FILE];
    expect(text).toContain('dynamodb_table = "tf-locks"');
    expect(text).not.toContain('use_lockfile');
    expect(text).toContain('role_arn     = "arn:aws:iam::123456789012:role/StateWriter"');
    expect(text).toContain('s3 = "http://minio:9000"');
    expect(text).toContain('use_path_style = true');
  });

  it('refuses values that could break out of an HCL string', () => {
    expect(() => renderBackendFiles({ ...backend, bucket: 'a"b' }, 'j')).toThrow(/TF_STATE_BUCKET/);
    expect(() => renderBackendFiles({ ...backend, keyPrefix: '${file("x")}' }, 'j')).toThrow(/state key/);
  });

  it('is written into the workspace and passed to init, and removed when unset', async () => {
    const dir = scratch('prov-backend-');
    await writeBackendFiles(dir, 'job-1', backend);
    expect(backendInitArgs(dir)).toEqual([`-backend-config=${BACKEND_CONFIG_FILE}`]);
    expect(fs.readFileSync(path.join(dir, BACKEND_TF), 'utf8')).toContain('backend "s3"');
    await writeBackendFiles(dir, 'job-1', undefined);
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(backendInitArgs(dir)).toEqual([]);
  });
});

describe('job state in S3 (moto), reached from another workdir', () => {
  let moto: Moto;
  const bucket = 'prov-state-test';
  const env = () => ({
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: moto.endpoint,
  });
  const s3Auth = {
    authorization: `AWS4-HMAC-SHA256 Credential=${MOTO_ACCESS_KEY_ID}/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0`,
  };

  beforeAll(async () => {
    moto = await startMoto();
    const res = await fetch(`${moto.endpoint}/${bucket}`, { method: 'PUT', headers: s3Auth });
    expect(res.status).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await moto?.stop();
  });

  async function keys(): Promise<string[]> {
    const xml = await (await fetch(`${moto.endpoint}/${bucket}?list-type=2`, { headers: s3Auth })).text();
    return [...xml.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]);
  }

  it('applies with remote state, then plans and destroys from a fresh workspace elsewhere', async () => {
    const s3: S3StateBackend = { bucket, region: 'us-east-1', keyPrefix: 'jobs', endpoint: moto.endpoint };
    const jobId = 'remote-state-job';
    const ctxFor = (workspaceDir: string): TerraformContext => ({
      binary: 'terraform',
      workspaceDir,
      env: env(),
      sink: quietSink(),
      graceMs: 5_000,
    });

    const hostA = scratch('prov-host-a-');
    const wsA = await prepareWorkspace({ jobsWorkdir: hostA, jobId, moduleDir: SANDBOX_MODULE, tfvars: sandboxVars(jobId) });
    await writeBackendFiles(wsA, jobId, s3);
    await terraformInit(ctxFor(wsA));
    const plan = await terraformPlan(ctxFor(wsA));
    expect(plan.add).toBeGreaterThan(0);
    await terraformApply(ctxFor(wsA));
    expect(fs.existsSync(path.join(wsA, 'terraform.tfstate'))).toBe(false);
    expect(await keys()).toContain('jobs/remote-state-job/terraform.tfstate');
    expect(stateHasResources(wsA)).toBe(true);

    // Another host: its own JOBS_WORKDIR, a workspace rebuilt from the job.
    const hostB = scratch('prov-host-b-');
    const wsB = await prepareWorkspace({ jobsWorkdir: hostB, jobId, moduleDir: SANDBOX_MODULE, tfvars: sandboxVars(jobId) });
    await writeBackendFiles(wsB, jobId, s3);
    await terraformInit(ctxFor(wsB));
    const listed = execFileSync('terraform', ['state', 'list'], {
      cwd: wsB,
      env: { ...process.env, ...env() },
      encoding: 'utf8',
    });
    expect(listed).toMatch(/terraform_data\.instance/);
    expect((await terraformPlan(ctxFor(wsB))).add).toBe(0);
    await terraformDestroy(ctxFor(wsB));
    const after = execFileSync('terraform', ['state', 'list'], { cwd: wsB, env: { ...process.env, ...env() }, encoding: 'utf8' });
    expect(after.trim()).toBe('');
  }, 120_000);
});
