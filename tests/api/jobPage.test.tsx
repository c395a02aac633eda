import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { createApp } from '../../src/api/app.js';
import { insertJob, updateJob } from '../../src/db/jobs.js';
import { appendLogLines, type LogLineInput } from '../../src/db/logs.js';
import { publicSpec } from '../../src/domain/jobSpec.js';
import { sampleSpec } from '../support/jobs.js';
import { appOverDb } from '../support/appOverDb.js';
import { createTempDb } from '../support/tempDb.js';

/**
 * The job page through app.request(): the log tail it starts with (markup
 * and escaping exactly as static/logs.js and the old JSX wrote them), the live
 * part (the same HTML and version as its refresh fragment) and the users of
 * each job's own CSV.
 */

const AUTH = `Basic ${Buffer.from('admin:job-pass').toString('base64')}`;

let temp: Awaited<ReturnType<typeof createTempDb>>;
let app: ReturnType<typeof createApp>;
let closeTemporal: () => Promise<void>;
let n = 0;

beforeAll(async () => {
  temp = await createTempDb();
  ({ app, close: closeTemporal } = appOverDb(temp.db, {
    APP_ADMIN_PASS: 'job-pass',
    SECRET_KEY: 'job-test-secret-key-0123456789abcdef',
    DATA_DIR: temp.dir,
  }));
});

afterAll(async () => {
  await closeTemporal?.();
  await temp?.cleanup();
});

async function get(path: string) {
  const res = await app.request(path, { headers: { authorization: AUTH, accept: 'text/html' } });
  return { res, html: await res.text() };
}

async function seedJob(usersCsv?: string | null, status = 'running') {
  n += 1;
  const spec = sampleSpec(usersCsv === undefined ? {} : { usersCsv: usersCsv ?? undefined });
  const created = new Date(Date.UTC(2032, 0, 1, 0, 0, n)).toISOString();
  return insertJob(temp.db, {
    id: `jpage${String(n).padStart(6, '0')}`,
    name: spec.name,
    status,
    step: 'apply',
    requester_email: spec.requesterEmail,
    region: spec.region,
    instance_type: spec.instance.type,
    auth_method: 'assume_role',
    spec_json: JSON.stringify(publicSpec(spec)),
    created_at: created,
    started_at: created,
    updated_at: created,
  });
}

/** The log line markup as the JSX view wrote it before, for a byte-for-byte comparison. */
function ReferenceLine(props: { l: { seq: number; step: string; stream: string; line: string } }) {
  const l = props.l;
  return (
    <div class={l.stream === 'stderr' ? 'll err' : 'll'} data-seq={l.seq}>
      <span class="ls">{l.step}</span>
      <span class="lt">{l.line}</span>
    </div>
  );
}

describe('job page', () => {
  it('keeps the outputs of destroyed resources as a record, without a link to their address', async () => {
    const outputs = JSON.stringify({
      instance_id: 'i-0abc',
      public_ip: '203.0.113.9',
      public_dns: 'ec2-203-0-113-9.example.com',
    });
    const live = await seedJob(undefined, 'succeeded');
    await updateJob(temp.db, live.id, { outputs_json: outputs, has_resources: 1, step: 'notify' });
    const gone = await seedJob(undefined, 'destroyed');
    await updateJob(temp.db, gone.id, { outputs_json: outputs, has_resources: 0, step: 'destroy' });

    const livePage = (await get(`/jobs/${live.id}`)).html;
    expect(livePage).not.toContain('id="outputs-gone"');
    expect(livePage).toMatch(/<a href="http:\/\/ec2-203-0-113-9\.example\.com:\d+/);

    const gonePage = (await get(`/jobs/${gone.id}`)).html;
    expect(gonePage).toContain('id="outputs-gone"');
    expect(gonePage).toContain('i-0abc');
    expect(gonePage).not.toMatch(/<a href="http:\/\/ec2-203-0-113-9/);
    expect(gonePage).toContain('gone with the instance');
  });

  it('starts with the log tail, every line escaped exactly as before', async () => {
    const job = await seedJob();
    const texts = [
      '<script>alert(1)</script>',
      'a & b "quoted" \'single\'',
      'tab\tand unicode é 日本 😀',
      '&lt;already escaped&gt;',
      '',
      '</div></section><p>not markup</p>',
    ];
    const lines: LogLineInput[] = texts.map((line, i) => ({
      step: i < 2 ? 'init' : 'apply<x>',
      attempt: 1,
      stream: i % 2 ? 'stderr' : 'stdout',
      lineNo: i + 1,
      line,
      ts: new Date(Date.UTC(2032, 0, 1, 0, 0, 0, i)).toISOString(),
    }));
    await appendLogLines(temp.db, job.id, lines);
    const { res, html } = await get(`/jobs/${job.id}`);
    expect(res.status).toBe(200);
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).not.toContain('<p>not markup</p>');
    const expected = (
      await Promise.all(
        lines.map(async (l, i) =>
          String(await (<ReferenceLine l={{ seq: i + 1, step: l.step, stream: l.stream, line: l.line }} />).toString()),
        ),
      )
    ).join('');
    expect(html).toContain(`data-first-seq="1" data-last-seq="${lines.length}" data-live="1">${expected}</div>`);
  });

  it('embeds the live part exactly as its refresh fragment serves it, with the same version', async () => {
    const job = await seedJob();
    const page = await get(`/jobs/${job.id}`);
    const version = /id="job-live"[^>]*data-version="([^"]+)"/.exec(page.html)![1];
    const parts = await get(`/jobs/${job.id}/parts`);
    expect(parts.res.headers.get('x-live-version')).toBe(version);
    expect(page.html).toContain(parts.html);
    expect(parts.html).toContain('badge-running');

    await updateJob(temp.db, job.id, { status: 'succeeded', step: 'notify', has_resources: 1 });
    const after = await get(`/jobs/${job.id}`);
    const newVersion = /id="job-live"[^>]*data-version="([^"]+)"/.exec(after.html)![1];
    expect(newVersion).not.toBe(version);
    const newParts = await get(`/jobs/${job.id}/parts`);
    expect(newParts.res.headers.get('x-live-version')).toBe(newVersion);
    expect(after.html).toContain(newParts.html);
    expect(after.html).toContain('badge-succeeded');
  });

  it("lists each job's own users, the first 200 of a long CSV", async () => {
    const header = 'username,email,role,display_name\n';
    const csv = (prefix: string, count: number) =>
      header + Array.from({ length: count }, (_, i) => `${prefix}${i},${prefix}${i}@example.com,user,${prefix} ${i}\n`).join('');
    const a = await seedJob(csv('alice', 3));
    const b = await seedJob(csv('bob', 250));
    const c = await seedJob(csv('alice', 3));
    for (let round = 0; round < 2; round++) {
      const pa = (await get(`/jobs/${a.id}`)).html;
      expect(pa).toContain('Users (3)');
      expect(pa).toContain('alice2@example.com');
      expect(pa).not.toContain('bob0@example.com');
      const pb = (await get(`/jobs/${b.id}`)).html;
      expect(pb).toContain('Users (250)');
      expect(pb).toContain('bob199@example.com');
      expect(pb).not.toContain('bob200@example.com');
      expect(pb).toContain('Showing the first 200 of 250.');
      expect(pb).not.toContain('alice0@example.com');
      expect((await get(`/jobs/${c.id}`)).html).toContain('Users (3)');
    }
    const none = await seedJob(null);
    expect((await get(`/jobs/${none.id}`)).html).toContain('No users CSV was given.');
  });

  it("links to the job's workflow in the Temporal UI of its namespace, once it has one", async () => {
    // Not a running job: its page would ask Temporal whether it waits for a worker (this one answers nothing).
    const job = await seedJob(undefined, 'failed');
    await updateJob(temp.db, job.id, { workflow_id: `job-${job.id}` });
    const draft = await seedJob(undefined, 'draft');
    const base = { APP_ADMIN_PASS: 'job-pass', SECRET_KEY: 'job-test-secret-key-0123456789abcdef', DATA_DIR: temp.dir };
    const cases: Array<{ env: Record<string, string>; href: string }> = [
      // A UI of its own (Temporal Cloud's namespace, say), named by TEMPORAL_UI_URL.
      {
        env: { TEMPORAL_UI_URL: 'https://temporal.example.com/', TEMPORAL_NAMESPACE: 'prov.a1b2c' },
        href: `https://temporal.example.com/namespaces/prov.a1b2c/workflows/job-${job.id}`,
      },
      // The UI the web app serves at /temporal (npm start, compose).
      {
        env: { PUBLIC_BASE_URL: 'http://prov.test:8000', TEMPORAL_UI_UPSTREAM: 'http://127.0.0.1:8233' },
        href: `http://prov.test:8000/temporal/namespaces/default/workflows/job-${job.id}`,
      },
    ];
    for (const c of cases) {
      const other = appOverDb(temp.db, { ...base, ...c.env });
      try {
        const page = async (id: string) =>
          (await other.app.request(`/jobs/${id}`, { headers: { authorization: AUTH, accept: 'text/html' } })).text();
        const html = await page(job.id);
        expect(html).toContain(
          `<a href="${c.href}" class="button secondary" rel="noopener noreferrer" target="_blank">Workflow in Temporal UI</a>`,
        );
        expect(await page(draft.id)).not.toContain('Workflow in Temporal UI');
      } finally {
        await other.close();
      }
    }
  });
});
