import { describe, expect, it } from 'vitest';
import { teamPolicyProblems, withTeamPolicy, type TeamPolicy } from '../../src/domain/teamPolicy.js';
import { sampleSpec } from '../support/jobs.js';

/** A team's rules on a job spec: what they refuse (by field) and how they shape what they allow. */

const open: TeamPolicy = {
  name: 'open',
  regions: null,
  instanceTypes: null,
  maxTtlHours: null,
  maxLiveJobs: null,
  approval: 'never',
};

describe('team rules', () => {
  it('leave a spec alone when they narrow nothing', () => {
    const spec = sampleSpec({ name: 'plain' });
    expect(teamPolicyProblems(spec, open, 1000)).toEqual([]);
    expect(withTeamPolicy(spec, open)).toEqual(spec);
  });

  it('name each field they refuse, and the live limit on the account field', () => {
    const team: TeamPolicy = {
      ...open,
      name: 'pay',
      regions: ['eu-west-1'],
      instanceTypes: ['t3.small'],
      maxTtlHours: 8,
      maxLiveJobs: 3,
    };
    const spec = sampleSpec({ name: 'big', options: { requireApproval: false, ttlHours: 24 } });
    expect(teamPolicyProblems(spec, team, 3).map((p) => p.path)).toEqual([
      'region',
      'instance.type',
      'options.ttlHours',
      'auth.teamAccountId',
    ]);
    expect(teamPolicyProblems(spec, team, 2).map((p) => p.path)).not.toContain('auth.teamAccountId');
  });

  it('give a job without a time to live the team’s longest, and apply the approval policy', () => {
    const spec = sampleSpec({ name: 'shaped' });
    expect(withTeamPolicy(spec, { ...open, maxTtlHours: 12 }).options).toMatchObject({ ttlHours: 12 });
    expect(withTeamPolicy(spec, { ...open, approval: 'always' }).options).toMatchObject({ requireApproval: true });
    const onReplace = withTeamPolicy(spec, { ...open, approval: 'on_replace' }).options;
    expect(onReplace).toMatchObject({ requireApproval: false, approveWhen: 'replace_or_destroy' });
    // Someone asking for approval anyway keeps it.
    const asked = sampleSpec({ name: 'asked', options: { requireApproval: true } });
    expect(withTeamPolicy(asked, { ...open, approval: 'on_replace' }).options).toEqual(asked.options);
  });
});
