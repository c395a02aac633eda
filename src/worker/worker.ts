import { recordWorkerPrincipal } from '../activities/teamAccountCheck.js';
import { NativeConnection } from '@temporalio/worker';
import { jobSpecPolicyOf, type Config } from '../config.js';
import type { Db } from '../db/database.js';
import { createDataConverter } from '../temporal/dataConverter.js';
import { temporalConnectionOptions } from '../temporal/connection.js';
import { notifierFromConfig } from '../notifications/notifier.js';
import type { ActivityDeps } from '../activities/index.js';
import { createProvisioningWorkers, type ProvisioningWorkers } from './createWorker.js';
import { ensureWorkflowBundle } from './workflowBundle.js';
import { getLogger } from '../observability/logger.js';

/** The real dependencies, built once per worker process. */
export function activityDepsFromConfig(config: Config, db: Db): ActivityDeps {
  return {
    db,
    notifier: notifierFromConfig(config, db),
    settings: {
      jobsWorkdir: config.jobsWorkdir,
      terraformModuleDir: config.terraformModuleDir,
      terraformBinary: config.TERRAFORM_BINARY,
      killGraceMs: config.TERRAFORM_KILL_GRACE_SECONDS * 1000,
      readinessProbe: config.READINESS_PROBE,
      readinessTimeoutMs: config.READINESS_TIMEOUT_SECONDS * 1000,
      readinessPollMs: config.READINESS_POLL_SECONDS * 1000,
      instanceConsole: config.INSTANCE_CONSOLE,
      skipInstanceStatusChecks: !config.READINESS_STATUS_CHECKS,
      allowedAccountIds: config.ALLOWED_ACCOUNT_IDS,
      specPolicy: jobSpecPolicyOf(config),
      extraTfvars: config.TERRAFORM_EXTRA_VARS_JSON ? () => config.TERRAFORM_EXTRA_VARS_JSON! : undefined,
      pluginCacheDir: config.pluginCacheDir,
      stateBackend: config.TF_STATE_BUCKET
        ? {
            bucket: config.TF_STATE_BUCKET,
            region: config.TF_STATE_REGION!,
            keyPrefix: config.TF_STATE_KEY_PREFIX,
            lockTable: config.TF_STATE_LOCK_TABLE,
            roleArn: config.TF_STATE_ROLE_ARN,
            endpoint: config.TF_STATE_ENDPOINT,
          }
        : undefined,
      artifacts: config.ARTIFACTS_BUCKET
        ? {
            bucket: config.ARTIFACTS_BUCKET,
            region: config.ARTIFACTS_REGION!,
            prefix: config.ARTIFACTS_PREFIX,
            endpoint: config.ARTIFACTS_ENDPOINT,
          }
        : undefined,
    },
  };
}

export interface RunningWorker {
  /** The workflows and quick steps on TEMPORAL_TASK_QUEUE, and the Terraform steps on its Terraform queue. */
  worker: ProvisioningWorkers;
  /** Resolves when the worker has stopped (after shutdown()). */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

export async function startWorker(config: Config, db: Db): Promise<RunningWorker> {
  const dataConverter = createDataConverter({
    encryptionKeys: config.PAYLOAD_ENCRYPTION_KEYS,
    secretKey: config.SECRET_KEY,
    refuseUnencrypted: config.NODE_ENV === 'production',
  });
  // Before connecting: the first start after a change to the workflows bundles them (in a child process).
  const bundle = await ensureWorkflowBundle({
    cacheDir: config.workflowBundleCacheDir,
    failureConverterPath: dataConverter.failureConverterPath!,
    log: getLogger('workflow-bundle'),
  });
  const connection = await NativeConnection.connect(temporalConnectionOptions(config));
  let worker: ProvisioningWorkers;
  try {
    worker = await createProvisioningWorkers({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      dataConverter,
      activityDeps: activityDepsFromConfig(config, db),
      workflowBundle: { codePath: bundle.codePath },
      shutdownGraceTime: config.WORKER_SHUTDOWN_GRACE_SECONDS * 1000,
      maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
      terraformMaxConcurrent: config.TERRAFORM_MAX_CONCURRENT,
    });
  } catch (err) {
    await connection.close().catch(() => undefined);
    throw err;
  }
  const done = worker.run().finally(() => connection.close());
  // Who this worker is in AWS: role trust policies name it, and the onboarding page shows it.
  // Not with the sandbox, which has no AWS identity to ask about.
  if (config.INSTANCE_CONSOLE === 'ec2') void recordWorkerPrincipal(db);
  return {
    worker,
    done,
    async shutdown() {
      worker.shutdown();
      await done;
    },
  };
}
