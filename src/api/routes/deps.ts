import type { Client } from '@temporalio/client';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { Authenticator } from '../auth.js';
import type { CommandDeps } from '../jobCommands.js';
import type { JobSpecSchema } from '../../domain/jobSpec.js';
import type { SpecChangeSchema } from '../../domain/specChange.js';

/** What every sub-app receives from createApp. */
export interface RouteDeps {
  db: Db;
  temporal: Client;
  config: Config;
  auth: Authenticator;
  commands: CommandDeps;
  /** The one job spec schema, built from the operator's allowlists. */
  specSchema: JobSpecSchema;
  /** The one schema of a change to a live environment (a revision). */
  changeSchema: SpecChangeSchema;
}
