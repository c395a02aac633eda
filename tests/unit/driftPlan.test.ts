import { describe, expect, it } from 'vitest';
import { parseDrift } from '../../src/activities/driftCheck.js';

/**
 * What a refresh-only plan's JSON says drifted, said for people: the AWS
 * provider's resource_drift (the shape `terraform show -json` prints for it)
 * and the sandbox module's changed outputs.
 */

const plan = (body: object) => JSON.stringify({ format_version: '1.2', ...body });

describe('parseDrift', () => {
  it('names each drifted resource with the attributes that moved, and resources deleted by hand', () => {
    const items = parseDrift(
      plan({
        resource_drift: [
          {
            address: 'aws_instance.this',
            mode: 'managed',
            change: {
              actions: ['update'],
              before: { instance_type: 't3.micro', tags: { job_id: 'j1' }, user_data: 'x'.repeat(500), monitoring: false },
              after: {
                instance_type: 't3.large',
                tags: { job_id: 'j1', owner: 'bob' },
                user_data: 'y'.repeat(500),
                monitoring: false,
              },
            },
          },
          {
            address: 'aws_vpc_security_group_ingress_rule.ssh[0]',
            mode: 'managed',
            change: { actions: ['delete'], before: { from_port: 22 }, after: null },
          },
        ],
      }),
    );
    expect(items).toEqual([
      'aws_instance.this: instance_type t3.micro → t3.large, tags {"job_id":"j1"} → {"job_id":"j1","owner":"bob"}, user_data changed',
      'aws_vpc_security_group_ingress_rule.ssh[0] was deleted outside the service',
    ]);
  });

  it('reads changed outputs, entry by entry when they map what moved to how', () => {
    const items = parseDrift(
      plan({
        output_changes: {
          sandbox_hand_changes: { actions: ['update'], before: {}, after: { 'aws_instance.this': 'stopped by hand' } },
          public_ip: { actions: ['update'], before: '203.0.113.7', after: '203.0.113.9' },
          instance_id: { actions: ['no-op'], before: 'i-1', after: 'i-1' },
        },
      }),
    );
    expect(items).toEqual(['aws_instance.this: stopped by hand', 'output public_ip 203.0.113.7 → 203.0.113.9']);
  });

  it('finds nothing in a plan without drift', () => {
    expect(parseDrift(plan({ resource_drift: [], output_changes: {} }))).toEqual([]);
  });
});
