import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { quietRuntime, testDataConverter } from '../support/worker.js';
import { HISTORIES_DIR, decodeHistory, encodeHistory } from '../support/histories.js';
import { SERVICE_SEARCH_ATTRIBUTES } from '../../src/workflows/searchAttributes.js';

const SERVICE_ATTRIBUTE_NAMES: string[] = SERVICE_SEARCH_ATTRIBUTES.map((k) => k.name);

/**
 * Recorded histories must replay against the current workflow code: a
 * non-deterministic change to provisionJob fails here before it breaks
 * running workflows in production. Each file was recorded by an earlier
 * version of the code:
 * - provision-happy-path: create → succeeded → destroy → destroyed;
 * - provision-failed-apply-v1: apply failing on every attempt, the job left
 *   failed with resources, then destroyed on request (recorded before the
 *   retry budgets and the reconciler: the failure path jobs still open then
 *   took).
 */
const histories = fs
  .readdirSync(HISTORIES_DIR)
  .filter((f) => f.endsWith('.binpb'))
  .sort();

describe('workflow replay', () => {
  it('has the recorded histories', () => {
    expect(histories).toEqual(
      expect.arrayContaining([
        'provision-failed-apply-v1.binpb',
        'provision-happy-path.binpb',
        'provision-waiting-after-ttl-updates-v2.binpb',
        'provision-awaiting-approval-v2.binpb',
        'provision-carried-run-v2.binpb',
        'provision-waiting-after-ttl-updates-v3.binpb',
        'provision-carried-run-v3.binpb',
        'revision-awaiting-approval-v4.binpb',
        'revision-applied-v4.binpb',
        'provision-carried-destroy-before-switch-v4.binpb',
        'provision-happy-path-v5.binpb',
        'provision-waiting-for-destroy-v5.binpb',
        'provision-terraform-queue-v6.binpb',
        'provision-queue-wait-v7.binpb',
      ]),
    );
  });

  it.each(histories)('replays %s against the current code', async (file) => {
    quietRuntime();
    const history = decodeHistory(fs.readFileSync(path.join(HISTORIES_DIR, file)));
    // A whole first run has dozens of events; a run that carries a waiting job on starts small.
    expect(history.events?.length).toBeGreaterThan(file.includes('carried') ? 5 : 20);
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: inject('workflowBundlePath') }, dataConverter: testDataConverter() },
      history,
      `replay-${file}`,
    );
  });

  it.each(histories)('%s holds ciphertext only: no job spec in clear text', (file) => {
    const text = withoutSearchAttributes(fs.readFileSync(path.join(HISTORIES_DIR, file))).toString('latin1');
    expect(text).not.toContain('alice@example.com');
    expect(text).not.toContain('Provisioner');
    expect(text).toContain('binary/encrypted');
  });
});

/**
 * The history without its search attributes: those are clear text by nature
 * (Temporal indexes them; the codec never sees them) and hold what the README
 * lists (the job's name, requester, account, region, type, team, status and
 * step), never a secret or the role ARN.
 */
function withoutSearchAttributes(bytes: Buffer): Buffer {
  const history = decodeHistory(bytes);
  for (const event of history.events ?? []) {
    const attributes = [
      event.workflowExecutionStartedEventAttributes?.searchAttributes,
      event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes,
    ];
    for (const a of attributes) {
      for (const [name, payload] of Object.entries(a?.indexedFields ?? {})) {
        // TemporalChangeVersion: the SDK's own, naming the patches a run took.
        if (name !== 'TemporalChangeVersion') expect(SERVICE_ATTRIBUTE_NAMES, `${name} is the service's`).toContain(name);
        expect(Buffer.from(payload.data ?? []).toString()).not.toMatch(/Provisioner|arn:aws/);
      }
      if (a) a.indexedFields = {};
    }
  }
  return encodeHistory(history);
}
