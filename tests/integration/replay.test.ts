import fs from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { quietRuntime, testDataConverter } from '../support/worker.js';
import { HAPPY_PATH_HISTORY, decodeHistory } from '../support/histories.js';


/**
 * A recorded history of the happy path (create → succeeded → destroy → destroyed)
 * must replay against the current workflow code: a non-deterministic change
 * to provisionJob fails here before it breaks running workflows in production.
 */
describe('workflow replay', () => {
  it('replays the recorded happy path against the current code', async () => {
    quietRuntime();
    const history = decodeHistory(fs.readFileSync(HAPPY_PATH_HISTORY));
    expect(history.events?.length).toBeGreaterThan(20);
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: inject('workflowBundlePath') }, dataConverter: testDataConverter() },
      history,
      'replay-happy-path',
    );
  });

  it('holds ciphertext only: no job spec in clear text in the stored history', () => {
    const text = fs.readFileSync(HAPPY_PATH_HISTORY).toString('latin1');
    expect(text).not.toContain('alice@example.com');
    expect(text).not.toContain('Provisioner');
    expect(text).toContain('binary/encrypted');
  });
});
