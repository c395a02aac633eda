import { Hono } from 'hono';
import type { Client } from '@temporalio/client';
import type { Db } from '../db/database.js';
import { checkDb } from '../db/database.js';
import { checkTemporal } from '../temporal/connection.js';
import { getLogger } from '../observability/logger.js';
import { methodNotAllowed } from './apiErrors.js';

/**
 * `GET /health`: 200 when the database and Temporal answer, 503 naming what is
 * down. Anyone may ask, so the answer says only which; why goes to the log
 * (error texts name files, hosts and users).
 */
export function healthApp(deps: { db: Db; temporal: Client }) {
  const log = getLogger('health');
  const down = (what: string) => (e: Error) => {
    log.warn({ err: e.message.split('\n')[0] }, `health: ${what} is down`);
    return 'down';
  };
  const app = new Hono().get('/', async (c) => {
    const [db, temporal] = await Promise.all([
      checkDb(deps.db).then(() => 'ok', down('the database')),
      checkTemporal(deps.temporal).then(() => 'ok', down('Temporal')),
    ]);
    const healthy = db === 'ok' && temporal === 'ok';
    return c.json({ status: healthy ? 'ok' : 'degraded', db, temporal }, healthy ? 200 : 503);
  });
  return app.all('/', methodNotAllowed(['GET']));
}
