import { describe, expect, it } from 'vitest';
import { REDACTED, redactLine, redactorFor } from '../../src/domain/redact.js';
import { adversarialLines } from '../support/adversarialLines.js';

// AWS's documented example credentials: realistic shapes, never valid.
const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const TEMP_KEY_ID = 'ASIAY34FZKBOKMUTVV7A';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const TOKEN = 'IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDexample+token/value==';

function expectHidden(line: string, ...secrets: string[]) {
  const out = redactLine(line);
  for (const s of secrets) expect(out, `${s} leaked from ${line}`).not.toContain(s);
  expect(out).toContain(REDACTED);
  return out;
}

describe('redactLine', () => {
  it('hides access key ids, long-term and temporary', () => {
    expect(redactLine(`key id ${KEY_ID} in use`)).toBe(`key id ${REDACTED} in use`);
    expect(redactLine(`"AccessKeyId": "${TEMP_KEY_ID}",`)).toBe(`"AccessKeyId": "${REDACTED}",`);
  });

  it('leaves ids that only look similar alone', () => {
    expect(redactLine('AKIA is a prefix, AKIASHORT is not a key')).toBe('AKIA is a prefix, AKIASHORT is not a key');
    expect(redactLine('role AROAIOSFODNN7EXAMPLE assumed')).toBe('role AROAIOSFODNN7EXAMPLE assumed');
  });

  it.each([
    [`aws_secret_access_key = ${SECRET}`, `aws_secret_access_key = ${REDACTED}`],
    [`AWS_SECRET_ACCESS_KEY=${SECRET}`, `AWS_SECRET_ACCESS_KEY=${REDACTED}`],
    [`"SecretAccessKey": "${SECRET}"`, `"SecretAccessKey": "${REDACTED}"`],
    [`secret_key: '${SECRET}'`, `secret_key: '${REDACTED}'`],
    [`secretKey=${SECRET}&x=1`, `secretKey=${REDACTED}&x=1`],
  ])('hides a secret access key after its key name: %s', (line, expected) => {
    expect(redactLine(line)).toBe(expected);
  });

  it('hides a bare 40-character secret after key-ish words or next to its key id', () => {
    expectHidden(`the secret: ${SECRET}`, SECRET);
    expectHidden(`credentials ${SECRET} expired`, SECRET);
    expect(redactLine(`${KEY_ID} ${SECRET}`)).toBe(`${REDACTED} ${REDACTED}`);
  });

  it('keeps 40-character hashes that no key word announces', () => {
    const sha = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';
    expect(redactLine(`commit ${sha}`)).toBe(`commit ${sha}`);
  });

  it.each([
    [`aws_session_token = ${TOKEN}`],
    [`AWS_SESSION_TOKEN=${TOKEN}`],
    [`"SessionToken": "${TOKEN}"`],
    [`GET /bucket?X-Amz-Security-Token=${encodeURIComponent(TOKEN)}&X-Amz-Expires=300`],
    [`x-amz-security-token: ${TOKEN}`],
    [`token ${TOKEN} (no key name)`],
  ])('hides session tokens: %s', (line) => {
    const out = expectHidden(line, TOKEN, encodeURIComponent(TOKEN), TOKEN.slice(0, 30));
    expect(out).not.toMatch(/IQoJb3JpZ2luX2Vj/);
  });

  it.each([
    ['password=hunter2 user=bob', `password=${REDACTED} user=bob`],
    ['{"password": "two words", "user": "bob"}', `{"password": "${REDACTED}", "user": "bob"}`],
    ["db_password: 'p@ss'", `db_password: '${REDACTED}'`],
    ['SMTP_PASS=s3cr3t', `SMTP_PASS=${REDACTED}`],
    ['APP_ADMIN_PASS = letmein', `APP_ADMIN_PASS = ${REDACTED}`],
    ['userPassword:abc;next', `userPassword:${REDACTED};next`],
    ['pwd=abc', `pwd=${REDACTED}`],
  ])('hides passwords: %s', (line, expected) => {
    expect(redactLine(line)).toBe(expected);
  });

  it('leaves words that merely contain "pass" and Terraform masks alone', () => {
    expect(redactLine('bypass=true compass: north, 3 passed: ok')).toBe('bypass=true compass: north, 3 passed: ok');
    expect(redactLine('  + password = (sensitive value)')).toBe('  + password = (sensitive value)');
    expect(redactLine('Enter password:')).toBe('Enter password:');
  });

  it('hides bearer tokens, authorization headers and URL passwords', () => {
    expect(redactLine('Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc-_')).toBe(`Authorization: Bearer ${REDACTED}`);
    expect(redactLine('curl -H "authorization: Basic dXNlcjpwYXNz"')).toBe(`curl -H "authorization: Basic ${REDACTED}"`);
    expect(redactLine('sent bearer abc.def.ghi')).toBe(`sent bearer ${REDACTED}`);
    expect(redactLine('git clone https://bob:tok3n@example.com/repo.git')).toBe(
      `git clone https://bob:${REDACTED}@example.com/repo.git`,
    );
  });

  it('hides every exact extra secret, also URL-encoded and JSON-escaped', () => {
    const extra = ['sw0rdf!sh/"x"', 'tenant-42-external'];
    const line = `a=sw0rdf!sh/"x" b=${encodeURIComponent(extra[0])} c=${JSON.stringify(extra[0])} d=tenant-42-external`;
    const out = redactLine(line, extra);
    expect(out).toBe(`a=${REDACTED} b=${REDACTED} c="${REDACTED}" d=${REDACTED}`);
  });

  it('hides the longer of two overlapping extra secrets whole', () => {
    expect(redactLine('value abcdef', ['abc', 'abcdef'])).toBe(`value ${REDACTED}`);
  });

  it('ignores empty extra secrets instead of redacting everything', () => {
    expect(redactLine('plain line', ['', '   '])).toBe('plain line');
  });

  it('leaves ordinary Terraform output untouched', () => {
    const lines = [
      'terraform_data.instance: Creation complete after 0s [id=c9c3af32-ae59-0cdd-be32-f95e52d25eee]',
      'Plan: 2 to add, 0 to change, 0 to destroy.',
      '  + instance_type = "t3.micro"',
      'aws_instance.this: Still creating... [10s elapsed]',
      'Apply complete! Resources: 2 added, 0 changed, 0 destroyed.',
    ];
    for (const l of lines) expect(redactLine(l)).toBe(l);
  });

  it('redactorFor applies the same rules with prepared secrets', () => {
    const redact = redactorFor(['my-known-secret']);
    expect(redact(`x my-known-secret ${KEY_ID}`)).toBe(`x ${REDACTED} ${REDACTED}`);
  });

  it('is fast enough for a chatty apply', () => {
    const redact = redactorFor([SECRET, 'another-secret-value']);
    const line = 'terraform_data.instance (local-exec): sandbox line 12345 with some ordinary words in it';
    const t0 = performance.now();
    for (let i = 0; i < 20_000; i++) redact(line);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

/**
 * The redactor runs on every log line (up to 1 MiB) and on the codec's
 * payloads (2 MB bodies): it must take time in proportion to the text. Each
 * string below defeated one of its patterns once (a quadratic one took 8 s at
 * 100 KB and minutes at 1 MB); the bound is loose for a noisy machine, and
 * `npm run bench` reports the time against its 100 ms target.
 */
describe('redaction in linear time', () => {
  const adversarial = adversarialLines(1 << 20);
  it.each(Object.entries(adversarial))('%s (1 MB)', (_name, text) => {
    const started = performance.now();
    redactLine(text, ['a-known-secret-value']);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
