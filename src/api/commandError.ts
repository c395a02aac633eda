import type { RefusalCode } from '../domain/permissions.js';

/**
 * What a command of the web layer (jobs, tokens, users) refuses with; the
 * code says why, and the API sends it as the error code (403 for refusals by
 * the permission rules).
 */
export class CommandError extends Error {
  constructor(
    readonly code: 'not_found' | 'conflict' | 'unavailable' | RefusalCode,
    message: string,
  ) {
    super(message);
  }

  get forbidden(): boolean {
    return this.code === 'role_required' || this.code === 'not_owner' || this.code === 'own_job';
  }
}
