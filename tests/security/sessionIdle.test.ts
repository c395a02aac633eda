import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appOverDb } from '../support/appOverDb.js';
import { makeUser, sessionFor } from '../support/people.js';
import { waitFor } from '../support/processes.js';
import { createTempDb } from '../support/tempDb.js';

/**
 * A browser left signed in does not stay signed in: a session unused for
 * SESSION_IDLE_MINUTES ends for good, while one in use keeps going (each use
 * moves its last-seen time, written at most once a minute).
 */

const SECRET_KEY = 'idle-secret-key-0123456789abcdef-xyz';
let temp: Awaited<ReturnType<typeof createTempDb>>;

beforeAll(async () => {
  temp = await createTempDb();
});

afterAll(async () => {
  await temp?.cleanup();
});

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

describe('session idle timeout', () => {
  it('ends a session unused for longer than SESSION_IDLE_MINUTES, and keeps one in use going', async () => {
    const { app, close } = appOverDb(temp.db, { SECRET_KEY, DATA_DIR: temp.dir, SESSION_IDLE_MINUTES: '30' });
    try {
      const user = await makeUser(temp.db, 'idle-user', 'requester');
      const { cookie } = await sessionFor(temp.db, SECRET_KEY, user);
      const me = () => app.request('/api/me', { headers: { cookie } });
      const seen = async () =>
        (await temp.db.selectFrom('sessions').select('last_seen_at').where('user_id', '=', user.id).executeTakeFirstOrThrow())
          .last_seen_at;
      const setSeen = (iso: string) =>
        temp.db.updateTable('sessions').set({ last_seen_at: iso }).where('user_id', '=', user.id).execute();

      expect((await me()).status).toBe(200);
      // Last used 29 minutes ago: still signed in, and this use starts the idle time again.
      await setSeen(minutesAgo(29));
      expect((await me()).status).toBe(200);
      await waitFor('the session touched', async () => Date.now() - Date.parse((await seen()) ?? '') < 60_000, 5_000);

      // Unused for 31 minutes: signed out, and for good (the session is revoked, not just refused).
      await setSeen(minutesAgo(31));
      expect((await me()).status).toBe(401);
      await setSeen(new Date().toISOString());
      expect((await me()).status).toBe(401);
    } finally {
      await close();
    }
  });

  it('with SESSION_IDLE_MINUTES=0 only the session lifetime ends it', async () => {
    const { app, close } = appOverDb(temp.db, { SECRET_KEY, DATA_DIR: temp.dir, SESSION_IDLE_MINUTES: '0' });
    try {
      const user = await makeUser(temp.db, 'no-idle-user', 'requester');
      const { cookie } = await sessionFor(temp.db, SECRET_KEY, user);
      await temp.db
        .updateTable('sessions')
        .set({ last_seen_at: minutesAgo(600) })
        .where('user_id', '=', user.id)
        .execute();
      expect((await app.request('/api/me', { headers: { cookie } })).status).toBe(200);
    } finally {
      await close();
    }
  });
});
