import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readStateVerdict, stateHasResources } from '../../src/activities/stateFile.js';
import { tempDir } from '../support/tempDb.js';

/** The failure path's question, "was anything created?", on every shape a killed apply leaves. */

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function workspace(files: Record<string, string>): string {
  const dir = tempDir('prov-state-');
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

const state = (resources: { type: string; name: string; instances: unknown[] }[]) =>
  JSON.stringify({ version: 4, terraform_version: '1.11.4', serial: 3, lineage: 'x', outputs: {}, resources });
const instance = { type: 'terraform_data', name: 'instance', instances: [{ attributes: { id: 'a' } }] };

describe('readStateVerdict', () => {
  it('says nothing was created when there is no state file', () => {
    expect(readStateVerdict(workspace({}))).toEqual({ has: false, reason: 'no state file' });
  });

  it('says nothing was created for the empty file a killed apply leaves (its lock created it)', () => {
    expect(readStateVerdict(workspace({ 'terraform.tfstate': '' }))).toEqual({ has: false, reason: 'empty state' });
    expect(stateHasResources(workspace({ 'terraform.tfstate': '\n  \n' }))).toBe(false);
  });

  it('says nothing was created for a state without resources (after a destroy, or resources without instances)', () => {
    expect(stateHasResources(workspace({ 'terraform.tfstate': state([]) }))).toBe(false);
    expect(stateHasResources(workspace({ 'terraform.tfstate': state([{ ...instance, instances: [] }]) }))).toBe(false);
  });

  it('counts the resources of a state that has them', () => {
    const verdict = readStateVerdict(workspace({ 'terraform.tfstate': state([instance, { ...instance, name: 'sg' }]) }));
    expect(verdict).toEqual({ has: true, reason: '2 resources in the state' });
  });

  it('believes the backup when the state file was cut to nothing after it', () => {
    const verdict = readStateVerdict(workspace({ 'terraform.tfstate': '', 'terraform.tfstate.backup': state([instance]) }));
    expect(verdict.has).toBe(true);
    expect(verdict.reason).toMatch(/backup lists 1 resources/);
  });

  it('assumes resources may remain when the state cannot be read', () => {
    const verdict = readStateVerdict(workspace({ 'terraform.tfstate': '{"version": 4, "resources": [{"type": "terraform_da' }));
    expect(verdict.has).toBe(true);
    expect(verdict.reason).toMatch(/cannot be read \(not valid JSON/);
  });

  it('assumes resources may exist once a remote backend was initialised, and none before', () => {
    const backend = { 'backend.tf': 'terraform {\n  backend "s3" {}\n}\n', 'backend.s3.tfbackend': 'bucket = "b"\n' };
    expect(stateHasResources(workspace(backend))).toBe(false);
    expect(stateHasResources(workspace({ ...backend, '.terraform/terraform.tfstate': '{}' }))).toBe(true);
  });
});
