import { describe, expect, it } from 'vitest';
import { NOTIFICATION_EVENTS, type NotificationEvent } from '../../src/domain/notifications.js';
import { renderEmail } from '../../src/notifications/emailContent.js';
import type { RevisionFacts } from '../../src/notifications/emailModel.js';
import type { JobFacts } from '../../src/domain/jobView.js';

type EmailJob = JobFacts;

const BASE = 'https://prov.example.com';

function job(overrides: Partial<EmailJob> = {}): EmailJob {
  return {
    id: 'job-123',
    name: 'demo-web',
    status: 'succeeded',
    step: 'ready',
    requester_email: 'alice@example.com',
    region: 'us-east-1',
    spec_json: JSON.stringify({
      name: 'demo-web',
      requesterEmail: 'alice@example.com',
      region: 'us-east-1',
      auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/Provisioner' },
      instance: { type: 't3.micro' },
      containers: [
        { name: 'webapp', image: 'nginx:latest', ports: ['8080:80', '53:53/udp'] },
        { name: 'api', image: 'api:1', ports: ['8443:443/tcp'] },
      ],
      options: { ttlHours: 24 },
    }),
    outputs_json: JSON.stringify({
      instance_id: 'i-0abc123',
      public_ip: '203.0.113.10',
      private_ip: '10.0.1.23',
      public_dns: 'ec2-203-0-113-10.compute-1.amazonaws.com',
      ami_id: 'ami-0abc',
      security_group_id: 'sg-0abc',
    }),
    error: null,
    destroy_at: '2031-05-06T07:08:00.000Z',
    account_id: '123456789012',
    instance_type: 't3.micro',
    plan_summary_json: JSON.stringify({ add: 4, change: 0, destroy: 0 }),
    ...overrides,
  };
}

const logLines = Array.from({ length: 30 }, (_, i) => ({ step: 'apply', stream: 'stdout', line: `log line ${i + 1}` }));

function render(event: NotificationEvent, overrides: Partial<EmailJob> = {}) {
  return renderEmail({
    job: job(overrides),
    event,
    steps: [
      { step: 'plan', attempt: 1, state: 'succeeded', error: null },
      { step: 'apply', attempt: 2, state: 'failed', error: 'Error: creating EC2 Instance: UnauthorizedOperation' },
    ],
    lastLogLines: logLines,
    publicBaseUrl: `${BASE}/`,
  });
}

const expectedSubjects: Record<NotificationEvent, string> = {
  succeeded: '[provisioning] Job "demo-web" succeeded',
  failed: '[provisioning] Job "demo-web" failed',
  cancelled: '[provisioning] Job "demo-web" cancelled',
  rejected: '[provisioning] Job "demo-web" rejected',
  destroyed: '[provisioning] Job "demo-web" destroyed',
  destroy_failed: '[provisioning] Job "demo-web" destroy failed',
  approval_needed: '[provisioning] Job "demo-web" awaiting approval',
  ttl_warning_24h: '[provisioning] Job "demo-web" will be destroyed in 24 hours',
  ttl_warning_1h: '[provisioning] Job "demo-web" will be destroyed in 1 hour',
};

describe('renderEmail', () => {
  it.each(NOTIFICATION_EVENTS)('%s: subject, both parts and the job link', (event) => {
    const email = render(event);
    expect(email.subject).toBe(expectedSubjects[event]);
    expect(email.html.startsWith('<!DOCTYPE html><html')).toBe(true);
    expect(email.html).toContain(`href="${BASE}/jobs/job-123"`);
    expect(email.text).toContain(`${BASE}/jobs/job-123`);
    expect(email.html).toContain('demo-web');
    expect(email.text).toContain('Job "demo-web"');
    expect(email.html).not.toMatch(/<script|<style|<link|javascript:/i);
    // Inline styles only: no class names to resolve against a stylesheet.
    expect(email.html).not.toMatch(/\sclass=/);
    // The plain-text part is really plain.
    expect(email.text).not.toMatch(/<[a-z]/i);
  });

  it('succeeded: outputs and how to reach the containers', () => {
    const { html, text } = render('succeeded');
    for (const part of [html, text]) {
      expect(part).toContain('i-0abc123');
      expect(part).toContain('203.0.113.10');
      expect(part).toContain('10.0.1.23');
      expect(part).toContain('ami-0abc');
      expect(part).toContain('sg-0abc');
      expect(part).toContain('http://ec2-203-0-113-10.compute-1.amazonaws.com:8080');
      expect(part).toContain('http://ec2-203-0-113-10.compute-1.amazonaws.com:8443');
      expect(part).toContain('webapp: 8080 → 80/tcp');
      expect(part).toContain('53 → 53/udp');
      expect(part).toContain('2031-05-06 07:08 UTC');
    }
    expect(html).toContain('<a href="http://ec2-203-0-113-10.compute-1.amazonaws.com:8080/"');
    // No link for a udp port.
    expect(html).not.toContain(':53/"');
    expect(text).toContain('(udp on ec2-203-0-113-10.compute-1.amazonaws.com:53)');
  });

  it('succeeded without a public address names the private IP', () => {
    const { text } = render('succeeded', {
      outputs_json: JSON.stringify({ instance_id: 'i-1', public_ip: null, public_dns: '', private_ip: '10.0.0.5' }),
    });
    expect(text).toContain('Host (private IP): 10.0.0.5');
    expect(text).toContain('http://10.0.0.5:8080');
  });

  it('failed: the step, the error and the last 20 log lines', () => {
    const { html, text } = render('failed', { status: 'failed', step: 'apply', error: 'apply failed: UnauthorizedOperation' });
    for (const part of [html, text]) {
      expect(part).toContain('apply');
      expect(part).toContain('apply failed: UnauthorizedOperation');
      expect(part).toContain('Last 20 log lines');
      expect(part).toContain('log line 30');
      expect(part).toContain('log line 11');
      expect(part).not.toContain('log line 10\n');
    }
    expect(text).not.toMatch(/log line 10$/m);
    expect(text).toMatch(/Attempt:\s+2/);
  });

  it('failed without a job error falls back to the failed step error', () => {
    const { text } = render('failed', { error: null });
    expect(text).toContain('Error: creating EC2 Instance: UnauthorizedOperation');
  });

  it('approval_needed: plan summary and a link to approve', () => {
    const { html, text } = render('approval_needed', { status: 'awaiting_approval' });
    expect(text).toContain('4 to add, 0 to change, 0 to destroy');
    expect(text).toContain(`Review the plan and approve or reject: ${BASE}/jobs/job-123`);
    expect(html).toContain('Review the plan and approve or reject');
  });

  it.each(['ttl_warning_24h', 'ttl_warning_1h'] as const)('%s: when it will be destroyed', (event) => {
    const { html, text } = render(event);
    expect(text).toContain('2031-05-06 07:08 UTC');
    expect(html).toContain('2031-05-06 07:08 UTC');
    expect(text).toMatch(event === 'ttl_warning_24h' ? /about 24 hours/ : /about 1 hour/);
  });

  it('rejected and cancelled show the reason when there is one', () => {
    expect(render('rejected', { error: 'approval expired after 72 hours' }).text).toContain('approval expired after 72 hours');
    expect(render('cancelled', { error: 'cancelled by bob' }).html).toContain('cancelled by bob');
  });

  it('escapes a hostile job name and hostile values everywhere in the HTML', () => {
    const hostile = '<script>alert("x")</script>';
    const email = renderEmail({
      job: job({
        name: hostile,
        error: '<img src=x onerror=alert(1)>',
        outputs_json: JSON.stringify({ public_dns: '"><script>alert(2)</script>', public_ip: '203.0.113.10' }),
      }),
      event: 'failed',
      steps: [],
      lastLogLines: ['</pre><script>alert(3)</script>'],
      publicBaseUrl: BASE,
    });
    expect(email.html).not.toContain('<script');
    expect(email.html).not.toContain('<img');
    expect(email.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(email.html).toContain('&lt;/pre&gt;&lt;script&gt;alert(3)&lt;/script&gt;');
    // The plain text part keeps the name as typed; the subject is one header line.
    expect(email.text).toContain(hostile);
    expect(email.subject).toBe(`[provisioning] Job "${hostile}" failed`);

    const succeeded = renderEmail({
      job: job({ outputs_json: JSON.stringify({ public_dns: '"><script>alert(2)</script>', public_ip: '203.0.113.10' }) }),
      event: 'succeeded',
      publicBaseUrl: BASE,
    });
    // A DNS name that is not a hostname is never made into a link.
    expect(succeeded.html).not.toContain('<script');
    expect(succeeded.html).toContain('http://203.0.113.10:8080');
  });

  it('keeps the subject to one line', () => {
    const { subject } = render('succeeded', { name: 'evil\r\nBcc: victim@example.com' });
    expect(subject).not.toMatch(/[\r\n]/);
    expect(subject).toBe('[provisioning] Job "evil Bcc: victim@example.com" succeeded');
  });

  it('survives missing or malformed spec and outputs', () => {
    const email = renderEmail({
      job: job({ spec_json: 'not json', outputs_json: null, destroy_at: null }),
      event: 'succeeded',
      publicBaseUrl: BASE,
    });
    expect(email.text).toContain('no address yet');
    expect(email.text).toContain('No container publishes a port.');
    expect(render('ttl_warning_1h', { destroy_at: null }).text).toContain('soon');
  });
});

describe('renderEmail for a live environment’s changes and drift', () => {
  const revision: RevisionFacts = {
    number: 3,
    kind: 'change',
    requestedBy: 'alice',
    differences: ['container webapp: image nginx:1.25 → nginx:1.27; environment GREETING', 'users 3 → 4 (1 added)'],
    plan: '0 to add, 1 to change, 0 to destroy',
    error: null,
    decidedBy: null,
  };
  const renderChange = (event: NotificationEvent, extra: Partial<typeof revision> = {}) =>
    renderEmail({ job: job(), event, publicBaseUrl: BASE, revision: { ...revision, ...extra } });

  it.each([
    ['revision_3_succeeded', 'revision 3 applied'],
    ['revision_3_failed', 'revision 3 failed'],
    ['revision_3_approval_needed', 'revision 3 awaits approval'],
    ['revision_3_cancelled', 'revision 3 cancelled'],
    ['revision_3_rejected', 'revision 3 rejected'],
  ] as const)('%s: says which revision, what it changes and the plan', (event, status) => {
    const mail = renderChange(event);
    expect(mail.subject).toBe(`[provisioning] Job "demo-web" ${status}`);
    for (const part of [mail.text, mail.html]) {
      expect(part).toContain('users 3 → 4 (1 added)');
      expect(part).toContain('0 to add, 1 to change, 0 to destroy');
      expect(part).toContain(`${BASE}/jobs/job-123`);
    }
  });

  it('a failed revision carries its error', () => {
    const mail = renderChange('revision_3_failed', { error: 'the image could not be pulled' });
    expect(mail.text).toContain('the image could not be pulled');
    expect(mail.text).toContain('The environment keeps running');
  });

  it('drift: what drifted and the way to reconcile', () => {
    const mail = renderEmail({
      job: job(),
      event: 'drift_1700000000000',
      publicBaseUrl: BASE,
      drift: { items: ['aws_instance.this: instance_type t3.micro → t3.large'] },
    });
    expect(mail.subject).toBe('[provisioning] Job "demo-web" drifted from its declared state');
    expect(mail.text).toContain('aws_instance.this: instance_type t3.micro → t3.large');
    expect(mail.html).toContain('Reconcile');
  });
});
