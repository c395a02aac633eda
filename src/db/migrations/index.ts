import type { Migration } from 'kysely';
import * as m0001 from './0001_initial.js';
import * as m0002 from './0002_sessions.js';
import * as m0003 from './0003_step_invocations.js';
import * as m0004 from './0004_people.js';
import * as m0005 from './0005_teams.js';
import * as m0006 from './0006_revisions.js';
import * as m0007 from './0007_page_reads.js';

/** Ordered by name; a new migration is a new file added here, never an edit of an applied one. */
export const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_sessions': m0002,
  '0003_step_invocations': m0003,
  '0004_people': m0004,
  '0005_teams': m0005,
  '0006_revisions': m0006,
  '0007_page_reads': m0007,
};
