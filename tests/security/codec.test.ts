import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { defaultPayloadConverter, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import { CodecError, ENCODING, EncryptionCodec, parseEncryptionKeys, UNENCRYPTED_REFUSED } from '../../src/temporal/codec.js';
import { createApp } from '../../src/api/app.js';
import { createJob } from '../../src/api/jobCommands.js';
import { AccessDeniedError } from '../../src/activities/awsErrors.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { TEST_SECRET_KEY, testDataConverter } from '../support/worker.js';
import { waitFor } from '../support/processes.js';
import { sampleSpec, waitForStatus, testActor } from '../support/jobs.js';
import { newJobRow } from '../support/jobRows.js';
import { updateJob } from '../../src/db/jobs.js';
import { API_TOKEN, UI_ORIGIN, bearer, basic, login, securityConfig, type App } from './support.js';

/**
 * The payload codec: AES-256-GCM with the key id in the metadata, rotation,
 * clear failures, failure messages encrypted in a real Temporal history, and
 * the /codec/decode endpoint Temporal UI calls (redaction, CORS, auth).
 */

const { History } = proto.temporal.api.history.v1;
const key = (id: string) => ({ id, key: crypto.randomBytes(32) });
const toPayload = (v: unknown) => defaultPayloadConverter.toPayload(v) as Payload;

describe('EncryptionCodec', () => {
  it('round-trips payloads and leaves only ciphertext with the key id in the metadata', async () => {
    const codec = new EncryptionCodec([key('k1')]);
    const plain = toPayload({ secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', n: 1 });
    const [enc] = await codec.encode([plain]);
    expect(Buffer.from(enc.metadata![METADATA_ENCODING_KEY]).toString()).toBe(ENCODING);
    expect(Buffer.from(enc.metadata!['encryption-key-id']).toString()).toBe('k1');
    expect(Object.keys(enc.metadata!).sort()).toEqual([METADATA_ENCODING_KEY, 'encryption-key-id'].sort());
    const bytes = Buffer.from(enc.data!);
    expect(bytes.includes('wJalrXUtnFEMI')).toBe(false);
    expect(bytes.includes('json/plain')).toBe(false); // the inner metadata is encrypted too
    const [dec] = await codec.decode([enc]);
    expect(defaultPayloadConverter.fromPayload(dec)).toEqual({
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      n: 1,
    });
    // A fresh IV each time: the same value never gives the same ciphertext.
    const [again] = await codec.encode([plain]);
    expect(Buffer.from(again.data!).equals(bytes)).toBe(false);
  });

  it('passes payloads it did not encrypt through unchanged', async () => {
    const codec = new EncryptionCodec([key('k1')]);
    const plain = toPayload('hello');
    expect(await codec.decode([plain])).toEqual([plain]);
  });

  it('refuses payloads it did not encrypt when told to (production), with a message saying why', async () => {
    const codec = new EncryptionCodec([key('k1')], { refuseUnencrypted: true });
    await expect(codec.decode([toPayload({ jobId: 'j1' })])).rejects.toThrow(CodecError);
    await expect(codec.decode([toPayload(null)])).rejects.toThrow(UNENCRYPTED_REFUSED);
    // Its own payloads still decode.
    const [enc] = await codec.encode([toPayload('fine')]);
    expect(defaultPayloadConverter.fromPayload((await codec.decode([enc]))[0])).toBe('fine');
  });

  it("lets through the one payload the server writes itself: a queued activity's cancel details", async () => {
    const codec = new EncryptionCodec([key('k1')], { refuseUnencrypted: true });
    const serverWritten = toPayload('ACTIVITY_ID_NOT_STARTED');
    expect(await codec.decode([serverWritten])).toEqual([serverWritten]);
    // Nothing else in clear text, however close.
    await expect(codec.decode([toPayload('ACTIVITY_ID_NOT_STARTED ')])).rejects.toThrow(UNENCRYPTED_REFUSED);
    await expect(codec.decode([toPayload({ reason: 'ACTIVITY_ID_NOT_STARTED' })])).rejects.toThrow(UNENCRYPTED_REFUSED);
  });

  it('fails clearly with an unknown key id, a wrong key under the same id, or tampered data', async () => {
    const a = new EncryptionCodec([key('a')]);
    const [enc] = await a.encode([toPayload('secret stuff')]);

    const other = new EncryptionCodec([key('b')]);
    await expect(other.decode([enc])).rejects.toThrow(CodecError);
    await expect(other.decode([enc])).rejects.toThrow(/encrypted with key "a", which this process does not have/);

    const sameIdWrongKey = new EncryptionCodec([key('a')]);
    await expect(sameIdWrongKey.decode([enc])).rejects.toThrow(
      /failed authentication with key "a" \(wrong key or tampered data\)/,
    );

    const tampered = Buffer.from(enc.data!);
    tampered[20] ^= 0x01;
    await expect(a.decode([{ ...enc, data: tampered }])).rejects.toThrow(/failed authentication with key "a"/);
  });

  it('rotates: with the old key listed second, old payloads decode and new ones use the new key', async () => {
    const old = key('2024-01');
    const fresh = key('2025-06');
    const before = new EncryptionCodec([old]);
    const [oldPayload] = await before.encode([toPayload({ v: 'old' })]);

    const rotated = new EncryptionCodec([fresh, old]);
    const [dec] = await rotated.decode([oldPayload]);
    expect(defaultPayloadConverter.fromPayload(dec)).toEqual({ v: 'old' });
    const [newPayload] = await rotated.encode([toPayload({ v: 'new' })]);
    expect(Buffer.from(newPayload.metadata!['encryption-key-id']).toString()).toBe('2025-06');
    // A process that still has only the old key says which key it lacks.
    await expect(before.decode([newPayload])).rejects.toThrow(/key "2025-06"/);

    // The same through the environment variable's format.
    const spec = `2025-06:${fresh.key.toString('base64')},2024-01:${old.key.toString('base64')}`;
    const fromEnv = new EncryptionCodec(parseEncryptionKeys(spec, TEST_SECRET_KEY));
    expect(defaultPayloadConverter.fromPayload((await fromEnv.decode([oldPayload]))[0])).toEqual({ v: 'old' });
  });

  it('refuses malformed PAYLOAD_ENCRYPTION_KEYS and derives a stable key from SECRET_KEY otherwise', () => {
    expect(() => parseEncryptionKeys(`k1:${crypto.randomBytes(16).toString('base64')}`, TEST_SECRET_KEY)).toThrow(
      /key "k1" must be 32 bytes \(base64\), got 16/,
    );
    expect(() => parseEncryptionKeys(crypto.randomBytes(32).toString('base64'), TEST_SECRET_KEY)).toThrow(
      /entry 1 must be id:base64key/,
    );
    const [d1] = parseEncryptionKeys(undefined, TEST_SECRET_KEY);
    const [d2] = parseEncryptionKeys('', TEST_SECRET_KEY);
    const [d3] = parseEncryptionKeys(undefined, `${TEST_SECRET_KEY}-other`);
    expect(d1.key.length).toBe(32);
    expect(d1.key.equals(d2.key)).toBe(true);
    expect(d1.key.equals(d3.key)).toBe(false);
    expect(d1.id).not.toBe(d3.id);
  });
});

// ---------------------------------------------------------------------------
// A real failing workflow on the dev server, and the endpoint Temporal UI calls
// ---------------------------------------------------------------------------

const MARKER = `marker-${crypto.randomBytes(6).toString('hex')}`;
const KEY_ID = `AKIA${crypto.randomBytes(8).toString('hex').toUpperCase()}`;
const SECRET = crypto.randomBytes(30).toString('base64').slice(0, 40);
const TOKEN = `FwoGZXIvYXdz${crypto.randomBytes(60).toString('base64url')}`;

let stack: SandboxStack;
let temp: SandboxStack['temp'];
let client: Client;
let app: App;
let history: proto.temporal.api.history.v1.History;
let jobId: string;

beforeAll(async () => {
  stack = await startSandboxStack({
    moto: false,
    workdirPrefix: 'prov-codec-jobs-',
    aws: {
      // STS refuses the keys; the message quotes the key id, as some AWS errors do.
      resolveJobCredentials: async () => {
        throw new AccessDeniedError(`${MARKER}: the access key ${KEY_ID} may not call sts:GetCallerIdentity`);
      },
    },
  });
  ({ temp, client } = stack);
  const config = securityConfig({
    TEMPORAL_TASK_QUEUE: stack.worker.taskQueue,
    DATA_DIR: temp.dir,
    JOBS_WORKDIR: stack.jobsWorkdir,
    ALLOW_ACCESS_KEY_AUTH: 'true',
  });
  app = createApp({ db: temp.db, temporal: client, config });

  const { commands } = stack;
  const spec = sampleSpec({ auth: { method: 'access_keys', accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: TOKEN } });
  // Access-key jobs start at creation: the keys exist only in the workflow input.
  const job = await createJob(commands, spec, testActor('tester', { ip: '127.0.0.1' }));
  jobId = job.id;
  await waitForStatus(temp.db, jobId, ['failed']);
  const handle = client.workflow.getHandle(`job-${jobId}`);
  await handle.result().catch(() => undefined);
  history = History.fromObject(await handle.fetchHistory());
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

function events(type: string) {
  const { EventType } = proto.temporal.api.enums.v1;
  return history.events.filter(
    (e: proto.temporal.api.history.v1.IHistoryEvent) => e.eventType === EventType[type as keyof typeof EventType],
  );
}

function payloadJson(p: proto.temporal.api.common.v1.IPayload) {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data ?? []).toString('base64'),
  };
}

describe('failure messages and inputs in a real workflow history', () => {
  it('stores neither the failure message nor the access keys in clear text', async () => {
    const bytes = Buffer.from(History.encode(history).finish());
    for (const needle of [MARKER, KEY_ID, SECRET, TOKEN, 'sts:GetCallerIdentity']) {
      expect(bytes.includes(needle), needle).toBe(false);
      expect(bytes.includes(Buffer.from(needle).toString('base64')), `${needle} (base64)`).toBe(false);
    }
    // The failures are there, with their text moved into an encrypted payload.
    const activityFailed = events('EVENT_TYPE_ACTIVITY_TASK_FAILED');
    const workflowFailed = events('EVENT_TYPE_WORKFLOW_EXECUTION_FAILED');
    expect(activityFailed.length).toBeGreaterThan(0);
    expect(workflowFailed).toHaveLength(1);
    for (const failure of [
      activityFailed[0].activityTaskFailedEventAttributes!.failure!,
      workflowFailed[0].workflowExecutionFailedEventAttributes!.failure!,
    ]) {
      expect(failure.message).toBe('Encoded failure');
      expect(failure.stackTrace ?? '').toBe('');
      const attrs = failure.encodedAttributes!;
      expect(Buffer.from(attrs.metadata![METADATA_ENCODING_KEY]).toString()).toBe(ENCODING);
    }
    // Every payload of the history is ciphertext.
    const started = events('EVENT_TYPE_WORKFLOW_EXECUTION_STARTED')[0].workflowExecutionStartedEventAttributes!;
    for (const p of started.input!.payloads!) {
      expect(Buffer.from(p.metadata![METADATA_ENCODING_KEY]).toString()).toBe(ENCODING);
    }
  });

  it('decodes for a client with the key: the message is intact behind the codec', async () => {
    const err = await client.workflow
      .getHandle(`job-${jobId}`)
      .result()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(String((err as WorkflowFailedError).cause?.message)).toContain(MARKER);
  });
});

describe('a job started around the service, in clear text', () => {
  it('is refused by the worker: no step runs, no job row is touched, the reason is in the history and on the job page', {
    timeout: 150_000,
  }, async () => {
    // Someone with the Temporal port but not the key: a client with no codec at all.
    const plain = new Client({ connection: client.connection, namespace: 'default' });
    const forgedId = `forged${crypto.randomBytes(4).toString('hex')}`;
    const handle = await plain.workflow.start('provisionJob', {
      taskQueue: stack.worker.taskQueue,
      workflowId: `job-${forgedId}`,
      args: [{ jobId: forgedId, spec: { ...sampleSpec(), region: 'ap-south-2' } }],
    });
    try {
      const failure = await waitFor(
        'the refused workflow task',
        async () => {
          const h = await handle.fetchHistory();
          const failure = h.events?.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes?.failure;
          if (!failure?.encodedAttributes) return undefined;
          // The worker encrypts its failure text too: read it with the key.
          const [attrs] = await testDataConverter().payloadCodecs![0].decode([failure.encodedAttributes as Payload]);
          return (defaultPayloadConverter.fromPayload(attrs) as { message: string }).message;
        },
        30_000,
        200,
      );
      expect(failure).toContain('unencrypted payload was refused');
      const h = await handle.fetchHistory();
      expect(h.events?.some((e) => e.activityTaskScheduledEventAttributes)).toBe(false);
      expect(await temp.db.selectFrom('jobs').select('id').where('id', '=', forgedId).executeTakeFirst()).toBeUndefined();

      // A job whose workflow is stuck like this says so, with the reason, where people look: its page and the
      // API (here a job row pointed at that workflow, as a job would be whose run took a clear signal).
      const stuckId = await newJobRow(temp.db, { status: 'running', prefix: 'stuck' });
      const model = await temp.db.selectFrom('jobs').select('spec_json').where('id', '=', jobId).executeTakeFirstOrThrow();
      await updateJob(temp.db, stuckId, { workflow_id: `job-${forgedId}`, step: 'verify', spec_json: model.spec_json });
      const stalled = await waitFor(
        'the stall in the API',
        async () => {
          const res = await app.request(`/api/jobs/${stuckId}`, { headers: bearer() });
          expect(res.status).toBe(200);
          return (
            ((await res.json()) as { stalled: { attempts: number; since: string; reason: string | null } | null }).stalled ??
            undefined
          );
        },
        90_000,
        1_000,
      );
      expect(stalled.attempts).toBeGreaterThanOrEqual(3);
      expect(stalled.reason).toContain('unencrypted payload was refused');
      const page = await (await app.request(`/jobs/${stuckId}`, { headers: bearer() })).text();
      expect(page).toContain('id="job-stalled"');
      expect(page).toMatch(/Stalled: Temporal cannot move this job on\. Its workflow task has failed \d+ times in a row/);
      // A job that moves says nothing of the kind.
      const fine = await (await app.request(`/api/jobs/${jobId}`, { headers: bearer() })).json();
      expect(fine.stalled ?? null).toBeNull();
    } finally {
      await handle.terminate('test over');
    }
  });
});

describe('POST /codec/decode (Temporal UI remote codec)', () => {
  const decode = (body: unknown, headers: Record<string, string> = {}) =>
    app.request('/codec/decode', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('decodes the workflow input as the UI sends it, with every secret field hidden', async () => {
    const started = events('EVENT_TYPE_WORKFLOW_EXECUTION_STARTED')[0].workflowExecutionStartedEventAttributes!;
    const res = await decode({ payloads: started.input!.payloads!.map(payloadJson) }, { ...bearer(), origin: UI_ORIGIN });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const raw = await res.text();
    for (const needle of [KEY_ID, SECRET, TOKEN]) {
      expect(raw.includes(needle)).toBe(false);
      expect(Buffer.from(raw).includes(Buffer.from(needle).toString('base64'))).toBe(false);
    }
    const body = JSON.parse(raw) as { payloads: { metadata: Record<string, string>; data: string }[] };
    expect(body.payloads).toHaveLength(1);
    const p = body.payloads[0];
    expect(Buffer.from(p.metadata[METADATA_ENCODING_KEY], 'base64').toString()).toBe('json/plain');
    const input = JSON.parse(Buffer.from(p.data, 'base64').toString());
    expect(input.jobId).toBe(jobId);
    expect(input.spec.auth).toEqual({
      method: 'access_keys',
      accessKeyId: `${KEY_ID.slice(0, 4)}…${KEY_ID.slice(-4)}`,
      secretAccessKey: '[REDACTED]',
      sessionToken: '[REDACTED]',
    });
    // Everything else is readable, which is the point of the endpoint.
    expect(input.spec.name).toMatch(/^test-job-/);
    expect(input.spec.containers[0].image).toBe('nginx:latest');
  });

  it('decodes a failure for the UI: the message readable, a quoted key id redacted', async () => {
    const failure = events('EVENT_TYPE_WORKFLOW_EXECUTION_FAILED')[0].workflowExecutionFailedEventAttributes!.failure!;
    const res = await decode({ payloads: [payloadJson(failure.encodedAttributes!)] }, bearer());
    expect(res.status).toBe(200);
    const [p] = ((await res.json()) as { payloads: { data: string }[] }).payloads;
    const attrs = JSON.parse(Buffer.from(p.data, 'base64').toString());
    expect(attrs.message).toContain(MARKER);
    expect(attrs.message).toContain('[REDACTED]');
    expect(attrs.message).not.toContain(KEY_ID);
  });

  it('hides secrets by field name at any depth, and in free text', async () => {
    const codec = new EncryptionCodec(parseEncryptionKeys(undefined, TEST_SECRET_KEY));
    const value = {
      a: { b: [{ password: 'hunter2', dbPassword: 'x', apiKey: 'k', aws_access_key_id: KEY_ID, keep: 'fine' }] },
      note: `aws_secret_access_key=${SECRET} and Authorization: Bearer abc.def`,
      AWS_SECRET_ACCESS_KEY: SECRET,
      count: 3,
      flag: true,
      nothing: null,
    };
    const encoded = await codec.encode([toPayload(value), toPayload(`plain string with ${KEY_ID}`)]);
    const res = await decode({ payloads: encoded.map(payloadJson) }, bearer());
    expect(res.status).toBe(200);
    const [obj, str] = ((await res.json()) as { payloads: { data: string }[] }).payloads.map((p) =>
      JSON.parse(Buffer.from(p.data, 'base64').toString()),
    );
    expect(obj).toEqual({
      a: {
        b: [
          {
            password: '[REDACTED]',
            dbPassword: '[REDACTED]',
            apiKey: '[REDACTED]',
            aws_access_key_id: `${KEY_ID.slice(0, 4)}…${KEY_ID.slice(-4)}`,
            keep: 'fine',
          },
        ],
      },
      note: 'aws_secret_access_key=[REDACTED] and Authorization: Bearer [REDACTED]',
      AWS_SECRET_ACCESS_KEY: '[REDACTED]',
      count: 3,
      flag: true,
      nothing: null,
    });
    expect(str).toBe('plain string with [REDACTED]');
  });

  it('needs a login: 401 without one or with wrong ones; basic, bearer and a session work', async () => {
    const payloads = (await new EncryptionCodec(parseEncryptionKeys(undefined, TEST_SECRET_KEY)).encode([toPayload(1)])).map(
      payloadJson,
    );
    expect((await decode({ payloads })).status).toBe(401);
    expect((await decode({ payloads }, bearer('wrong-token'))).status).toBe(401);
    expect((await decode({ payloads }, basic('admin', 'wrong'))).status).toBe(401);
    expect((await decode({ payloads }, bearer(API_TOKEN))).status).toBe(200);
    expect((await decode({ payloads }, basic())).status).toBe(200);
    // The UI with "include cross-origin credentials": the session cookie, no CSRF token.
    const { cookie } = await login(app);
    const res = await decode({ payloads }, { cookie, origin: UI_ORIGIN });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    // A 401 to the UI still carries CORS headers, so the UI can show why.
    const unauth = await decode({ payloads }, { origin: UI_ORIGIN });
    expect(unauth.status).toBe(401);
    expect(unauth.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
  });

  it('answers CORS preflights for TEMPORAL_UI_URL only', async () => {
    const preflight = (origin: string, method = 'POST') =>
      app.request('/codec/decode', {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': method,
          'access-control-request-headers': 'content-type,x-namespace',
        },
      });
    const ok = await preflight(UI_ORIGIN);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    expect(ok.headers.get('access-control-allow-methods')).toBe('POST');
    const allowed = (ok.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    expect(allowed).toContain('x-namespace');
    expect(allowed).toContain('content-type');
    expect(ok.headers.get('vary')).toContain('Origin');

    for (const origin of [
      'https://evil.example',
      'http://temporal-ui.test:9999',
      'null',
      'http://temporal-ui.test.evil.example:8233',
    ]) {
      const res = await preflight(origin);
      expect(res.status, origin).toBe(403);
      expect(res.headers.get('access-control-allow-origin'), origin).toBeNull();
    }
    expect((await preflight(UI_ORIGIN, 'DELETE')).status).toBe(403);
  });

  it('refuses other origins, other content types and malformed bodies', async () => {
    const codec = new EncryptionCodec(parseEncryptionKeys(undefined, TEST_SECRET_KEY));
    const payloads = (await codec.encode([toPayload({ secret: 'x' })])).map(payloadJson);
    const { cookie } = await login(app);

    // A bearer call from another origin gets its answer, but no CORS grant: a browser would not show it.
    const foreign = await decode({ payloads }, { ...bearer(), origin: 'https://evil.example' });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    // A cookie (ambient credential) from another origin is refused outright.
    const csrf = await decode({ payloads }, { cookie, origin: 'https://evil.example' });
    expect(csrf.status).toBe(403);
    expect(((await csrf.json()) as { error: { code: string } }).error.code).toBe('forbidden_origin');

    const plain = await app.request('/codec/decode', {
      method: 'POST',
      headers: { ...bearer(), 'content-type': 'text/plain' },
      body: JSON.stringify({ payloads }),
    });
    expect(plain.status).toBe(415);
    expect((await decode('{"payloads": [', bearer())).status).toBe(400);
    expect((await decode({ payloads: 'nope' }, bearer())).status).toBe(422);
    expect((await decode({ payloads: [{ data: 'not base64 !!' }] }, bearer())).status).toBe(422);

    // Undecodable payloads: a clear message naming the key, never a 500.
    const foreignKey = (await new EncryptionCodec([key('elsewhere')]).encode([toPayload(1)])).map(payloadJson);
    const unknownKey = await decode({ payloads: foreignKey }, bearer());
    expect(unknownKey.status).toBe(422);
    expect(((await unknownKey.json()) as { error: { message: string } }).error.message).toMatch(/key "elsewhere"/);
    const truncated = [{ ...payloads[0], data: Buffer.from('short').toString('base64') }];
    const cut = await decode({ payloads: truncated }, bearer());
    expect(cut.status).toBe(422);

    // There is no /encode: the UI may read, never create payloads.
    const encode = await app.request('/codec/encode', {
      method: 'POST',
      headers: { ...bearer(), 'content-type': 'application/json' },
      body: JSON.stringify({ payloads }),
    });
    expect(encode.status).toBe(404);
  });
});
