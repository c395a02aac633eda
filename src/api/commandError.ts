import type { RefusalCode } from '../domain/permissions.js';

/**
 * What a command of the web layer (jobs, tokens, users) refuses with; the
 * code says why, and the API sends it as the error code (403 for refusals by
 * the permission rules).
 */
export class CommandError extends Error {
  constructor(
    readonly code: 'not_found' | 'conflict' | 'unavailable' | 'validation_failed' | 'account_not_in_team' | RefusalCode,
    message: string,
    /** With validation_failed: the spec fields at fault. */
    readonly fields?: { path: string; message: string }[],
  ) {
    super(message);
  }

  get forbidden(): boolean {
    return ['role_required', 'not_owner', 'own_job', 'account_not_in_team'].includes(this.code);
  }
}
