import { describe, expect, it } from 'vitest';
import { jobView, stepPlan, stepViews, type JobFacts } from '../../src/domain/jobView.js';

/** The one presentation of a job that the page, the dashboard, the emails and the API share. */

const links = { publicBaseUrl: 'https://prov.example.com', temporalUiUrl: 'https://temporal.example.com', namespace: 'default' };

function facts(overrides: Partial<JobFacts> = {}): JobFacts {
  return {
    id: 'j1',
    name: 'demo',
    status: 'succeeded',
    step: 'notify',
    requester_email: 'a@example.com',
    region: 'us-east-1',
    spec_json: JSON.stringify({
      name: 'demo',
      containers: [
        { name: 'web', image: 'nginx', ports: ['80:8080', '443:443', '9000:9000'] },
        { name: 'dns', image: 'coredns', ports: ['53:53/udp'] },
      ],
      options: { requireApproval: true },
    }),
    outputs_json: JSON.stringify({
      instance_id: 'i-1',
      public_ip: '203.0.113.9',
      public_dns: '',
      private_ip: '10.0.0.4',
      extra_thing: 'x',
    }),
    plan_summary_json: JSON.stringify({ add: 2, change: 1, destroy: 0, resources: [{ address: 'a.b', actions: ['create'] }] }),
    error: null,
    workflow_id: 'job-j1',
    destroy_at: null,
    has_resources: 1,
    ...overrides,
  };
}

describe('jobView', () => {
  it('links every published TCP port on the best address, and names the others', () => {
    const view = jobView(facts(), { links });
    expect(view.host).toEqual({ name: '203.0.113.9', kind: 'public IP' });
    expect(view.ports.map((p) => [p.label, p.url, p.note])).toEqual([
      ['web: 80 → 8080/tcp', 'http://203.0.113.9/', null],
      ['web: 443 → 443/tcp', 'https://203.0.113.9/', null],
      ['web: 9000 → 9000/tcp', 'http://203.0.113.9:9000/', null],
      ['dns: 53 → 53/udp', null, 'udp on 203.0.113.9:53'],
    ]);
  });

  it('never builds a link from an address that is not a host name', () => {
    const view = jobView(
      facts({ outputs_json: JSON.stringify({ public_dns: '"><script>', public_ip: 'x y', private_ip: null }) }),
      { links },
    );
    expect(view.host).toBeNull();
    expect(view.ports.every((p) => p.url === null)).toBe(true);
  });

  it('shows the known outputs first with their labels, then the others', () => {
    const view = jobView(facts(), { links });
    expect(view.outputRows.map((r) => [r.label, r.value])).toEqual([
      ['Instance ID', 'i-1'],
      ['Public IP', '203.0.113.9'],
      ['Private IP', '10.0.0.4'],
      ['Public DNS', null],
      ['AMI', null],
      ['Security group', null],
      ['extra thing', 'x'],
    ]);
  });

  it('gives the plan counts, the allowed actions and the links', () => {
    const view = jobView(facts(), { links });
    expect(view.plan?.counts).toBe('2 to add, 1 to change, 0 to destroy');
    expect(view.actions).toEqual(['destroy']);
    expect(view.links).toEqual({
      self: 'https://prov.example.com/api/jobs/j1',
      ui: 'https://prov.example.com/jobs/j1',
      temporal: 'https://temporal.example.com/namespaces/default/workflows/job-j1',
    });
    expect(jobView(facts({ status: 'failed', has_resources: 0 }), { links }).actions).toEqual([]);
  });

  it('survives a spec or outputs that cannot be read', () => {
    const view = jobView(facts({ spec_json: 'nope', outputs_json: '{', plan_summary_json: null }), { links });
    expect([view.spec, view.outputs, view.plan, view.ports]).toEqual([null, null, null, []]);
  });
});

describe('steps', () => {
  it('plans the steps in the one order, approval only when asked for', () => {
    expect(stepPlan('running', { options: { requireApproval: false } })).toEqual([
      'verify',
      'preflight',
      'render',
      'init',
      'plan',
      'apply',
      'output',
      'ready',
      'notify',
    ]);
    expect(stepPlan('draft', { options: { requireApproval: true } })).toContain('approval');
    expect(stepPlan('destroying', null)).toEqual(['destroy']);
    expect(stepPlan('succeeded', null)).toEqual([]);
  });

  it('folds attempts into one entry per step, the lost ones told apart, then those to come', () => {
    const steps = stepViews(
      [
        { step: 'verify', attempt: 1, state: 'succeeded' },
        { step: 'apply', attempt: 1, state: 'failed', error: 'throttled' },
        { step: 'apply', attempt: 2, state: 'interrupted', error: 'worker lost' },
        { step: 'apply', attempt: 3, state: 'running' },
      ],
      ['verify', 'apply', 'output'],
    );
    expect(steps.map((s) => [s.step, s.state, s.attempts])).toEqual([
      ['verify', 'succeeded', 1],
      ['apply', 'running', 3],
      ['output', 'pending', 0],
    ]);
    expect(steps[1].earlierErrors).toEqual([
      { attempt: 1, error: 'throttled', interrupted: false },
      { attempt: 2, error: 'worker lost', interrupted: true },
    ]);
  });
});
