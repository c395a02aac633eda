import { describe, expect, it } from 'vitest';
import { replanBeyondApproval } from '../../src/activities/approvedPlan.js';

const approved = {
  add: 3,
  change: 0,
  destroy: 0,
  resources: [
    { address: 'aws_security_group.this[0]', actions: ['create'] },
    { address: 'aws_instance.this', actions: ['create'] },
    { address: 'aws_iam_role.this', actions: ['create'] },
  ],
};

describe('re-plan after an approved plan', () => {
  it('may finish what was approved', () => {
    const rest = { add: 1, change: 0, destroy: 0, resources: [{ address: 'aws_instance.this', actions: ['create'] }] };
    expect(replanBeyondApproval(approved, rest)).toBeNull();
    expect(replanBeyondApproval(approved, { add: 0, change: 0, destroy: 0, resources: [] })).toBeNull();
  });

  it('refuses anything the approver did not see', () => {
    const changed = {
      add: 0,
      change: 0,
      destroy: 1,
      resources: [{ address: 'aws_instance.this', actions: ['delete', 'create'] }],
    };
    expect(replanBeyondApproval(approved, changed)).toMatch(
      /plan changed since it was approved \(delete\+create aws_instance.this\)/,
    );
  });
});
