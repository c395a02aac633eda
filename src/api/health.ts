import { Hono } from 'hono';
import type { Client } from '@temporalio/client';
import type { Db } from '../db/database.js';
import { checkDb } from '../db/database.js';
import { checkTemporal } from '../temporal/connection.js';

/** `GET /health`: 200 when the database and Temporal answer, 503 naming what is down. */
export function healthApp(deps: { db: Db; temporal: Client }) {
  return new Hono().get('/', async (c) => {
    const [db, temporal] = await Promise.all([
      checkDb(deps.db).then(
        () => 'ok',
        (e: Error) => `down: ${e.message}`,
      ),
      checkTemporal(deps.temporal).then(
        () => 'ok',
        (e: Error) => `down: ${e.message.split('\n')[0]}`,
      ),
    ]);
    const healthy = db === 'ok' && temporal === 'ok';
    return c.json({ status: healthy ? 'ok' : 'degraded', db, temporal }, healthy ? 200 : 503);
  });
}
