import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { createApp } from '../../src/api/app.js';
import { insertJob, updateJob } from '../../src/db/jobs.js';
import { appOverDb } from '../support/appOverDb.js';
import { createTempDb } from '../support/tempDb.js';

/**
 * The dashboard through app.request(): rows are always read fresh, the
 * per-status counts of the filter are at most about a second old, and a row's
 * times are shown the same way however often they are rendered.
 */

const AUTH = `Basic ${Buffer.from('admin:dash-pass').toString('base64')}`;

let temp: Awaited<ReturnType<typeof createTempDb>>;
let app: ReturnType<typeof createApp>;
let closeTemporal: () => Promise<void>;
let n = 0;

beforeAll(async () => {
  temp = await createTempDb();
  ({ app, close: closeTemporal } = appOverDb(temp.db, {
    APP_ADMIN_PASS: 'dash-pass',
    SECRET_KEY: 'dash-test-secret-key-0123456789abcdef',
    DATA_DIR: temp.dir,
  }));
});

afterAll(async () => {
  await closeTemporal?.();
  await temp?.cleanup();
});

async function dashboard(query = '') {
  const res = await app.request(`/${query}`, { headers: { authorization: AUTH, accept: 'text/html' } });
  expect(res.status).toBe(200);
  return res.text();
}

function count(html: string, status: string): number {
  const m = new RegExp(`<option value="${status}"[^>]*>[^<(]*\\((\\d+)\\)</option>`).exec(html);
  if (!m) throw new Error(`no option for ${status}`);
  return Number(m[1]);
}

function total(html: string): number {
  return Number(/<option value=""[^>]*>All \((\d+)\)<\/option>/.exec(html)![1]);
}

async function seedJob(status: string, extra: Record<string, string | null> = {}) {
  n += 1;
  const created = new Date(Date.UTC(2031, 0, 1, 0, 0, n)).toISOString();
  return insertJob(temp.db, {
    id: `jdash${String(n).padStart(6, '0')}`,
    name: `dash-job-${n}`,
    status,
    step: status === 'running' ? 'apply' : null,
    requester_email: `user${n}@example.com`,
    region: 'eu-west-1',
    instance_type: 't3.small',
    auth_method: 'assume_role',
    spec_json: '{"secret-looking":"never on the dashboard"}',
    created_at: created,
    updated_at: created,
    ...extra,
  });
}

describe('dashboard', () => {
  it('shows a new job and a changed status at once; the counts catch up within a second', async () => {
    await seedJob('succeeded');
    const before = await dashboard();
    const rejectedBefore = count(before, 'rejected');

    const job = await seedJob('rejected', { finished_at: '2031-02-03T04:05:06.789Z' });
    const right = await dashboard();
    const row = right.slice(right.indexOf(`data-job-id="${job.id}"`));
    expect(row).toContain('badge-rejected');
    expect(row).toContain('2031-02-03 04:05');
    expect(right).toContain('title="2031-02-03 04:05:06 UTC"');
    // The filter's counts may lag by up to a second...
    expect(count(right, 'rejected')).toBeGreaterThanOrEqual(rejectedBefore);
    expect(right).not.toContain('never on the dashboard');

    // ...rows never do.
    await updateJob(temp.db, job.id, { status: 'cancelled' });
    const changed = await dashboard();
    expect(changed.slice(changed.indexOf(`data-job-id="${job.id}"`))).toContain('badge-cancelled');

    await new Promise((r) => setTimeout(r, 1_100));
    const later = await dashboard();
    expect(count(later, 'rejected')).toBe(rejectedBefore);
    expect(count(later, 'cancelled')).toBe(count(before, 'cancelled') + 1);
    expect(total(later)).toBe(total(before) + 1);
  });

  it('filters and pages as before on the narrower rows', async () => {
    for (let i = 0; i < 27; i++) await seedJob('failed');
    const failed = await dashboard('?status=failed');
    const ids = [...failed.matchAll(/data-job-id="([^"]+)"/g)].map((m) => m[1]);
    expect(ids).toHaveLength(25);
    expect([...ids].sort().reverse()).toEqual(ids);
    const older = /href="(\/\?[^"]*cursor=[^"]+)" rel="next"/.exec(failed);
    expect(older).not.toBeNull();
    const second = await dashboard(older![1].slice(1).replace(/&amp;/g, '&'));
    const secondIds = [...second.matchAll(/data-job-id="([^"]+)"/g)].map((m) => m[1]);
    expect(secondIds.length).toBeGreaterThanOrEqual(2);
    expect(secondIds.some((id) => ids.includes(id))).toBe(false);
    expect(second).toContain('badge-failed');
    expect(second).not.toContain('badge-succeeded');
  });
});
