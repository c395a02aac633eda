import { describe, expect, it } from 'vitest';
import {
  applySpecChange,
  type ChangeableSpec,
  changeProblems,
  createSpecChangeSchema,
  specDifferences,
} from '../../src/domain/specChange.js';

/** A change to a live environment: what the schema takes, what it changes, and how that is said. */

const schema = createSpecChangeSchema({ allowedInstanceTypes: ['t3.micro', 't3.small'] });
const current: ChangeableSpec = {
  instance: { type: 't3.micro', volumeSizeGb: 20, ingressCidr: '0.0.0.0/0' },
  containers: [
    {
      name: 'web',
      image: 'nginx:1.25',
      ports: ['80:80'],
      environment: { TOKEN: 'abc', MODE: 'a' },
      volumes: [],
      restart: 'unless-stopped',
    },
  ],
  usersCsv: 'username,email,role,display_name\nann,ann@example.com,user,Ann\n',
};

describe('a change to a live environment', () => {
  it('changes only the fields given', () => {
    const after = applySpecChange(current, schema.parse({ instance: { type: 't3.small' } }));
    expect(after).toEqual({ ...current, instance: { ...current.instance, type: 't3.small' } });
    expect(current.instance.type).toBe('t3.micro');
  });

  it('takes an empty users CSV or SSH CIDR as none, and an empty ingress as anyone', () => {
    const withSsh = applySpecChange(
      current,
      schema.parse({ instance: { sshCidr: '203.0.113.0/24', ingressCidr: '198.51.100.0/24' } }),
    );
    const after = applySpecChange(withSsh, schema.parse({ usersCsv: '', instance: { sshCidr: '', ingressCidr: '' } }));
    expect(after.usersCsv).toBeUndefined();
    expect(after.instance.sshCidr).toBeUndefined();
    expect(after.instance.ingressCidr).toBe('0.0.0.0/0');
  });

  it('says what changes without the environment’s values', () => {
    const after = applySpecChange(
      current,
      schema.parse({
        containers: [{ name: 'web', image: 'nginx:1.27', ports: ['80:80'], environment: { TOKEN: 'secret-2', MODE: 'a' } }],
        usersCsv: 'username,email\nbob,bob@example.com\n',
        instance: { type: 't3.small', volumeSizeGb: 40, sshCidr: '203.0.113.0/24' },
      }),
    );
    const differences = specDifferences(current, after);
    expect(differences.map((d) => [d.applies, d.text])).toEqual([
      ['restart', 'instance type t3.micro → t3.small (the instance stops and starts)'],
      ['infrastructure', 'volume 20 → 40 GiB'],
      ['infrastructure', 'SSH from 203.0.113.0/24 (was closed)'],
      ['instance', 'container web: image nginx:1.25 → nginx:1.27; environment TOKEN'],
      ['instance', 'users 1 → 1 (1 added, 1 removed)'],
    ]);
    expect(JSON.stringify(differences)).not.toContain('secret-2');
  });

  it('refuses a shrinking volume, a change of nothing, and names the field', () => {
    expect(changeProblems(current, applySpecChange(current, schema.parse({ instance: { volumeSizeGb: 10 } })))).toEqual([
      { path: 'instance.volumeSizeGb', message: expect.stringMatching(/may only grow \(now 20 GiB\)/) },
    ]);
    expect(changeProblems(current, applySpecChange(current, schema.parse({})))).toEqual([
      { path: '', message: expect.stringMatching(/changes nothing/) },
    ]);
    const bad = schema.safeParse({ instance: { type: 'x1.32xlarge' }, credentials: 'no' });
    expect(bad.success).toBe(false);
    const messages = bad.error!.issues.map((i) => i.message).join(' | ');
    expect(messages).toContain('unknown field "credentials"');
    expect(messages).toContain('instance.type "x1.32xlarge" is not allowed');
  });
});
