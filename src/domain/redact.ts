/**
 * The filter every log line passes before it is stored. It errs towards
 * hiding too much: a log that lost a word is an inconvenience, a log that
 * kept a secret key is an incident.
 */

export const REDACTED = '[REDACTED]';

// `key = value`, `key: value`, `"key": "value"`, `KEY=value`. The key and the
// separator are kept so a reader still sees what was hidden.
const SEP = `["']?\\s*[:=]\\s*["']?`;
const VALUE = `[^\\s"'&,;]+`;

/** Terraform's own `(sensitive value)` mask stays readable as such. */
const NOT_MASKED = `(?!\\(sensitive)`;

const AWS_KEY_ID = /\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/g;

const SECRET_KEY_ASSIGNMENT = new RegExp(
  `((?:aws_?)?secret_?access_?key|secret[_-]?key|aws_secret)(${SEP})${NOT_MASKED}${VALUE}`,
  'gi',
);

const SESSION_TOKEN_ASSIGNMENT = new RegExp(
  `((?:aws_?)?session_?token|x-amz-security-token|security_?token)(${SEP})${NOT_MASKED}${VALUE}`,
  'gi',
);

// A 40-character secret key with no key name of its own, after a word that
// says what it is, or right after an (already hidden) access key id as in a
// pasted "AKIA… wJalr…" pair. "=" may separate them (SECRET=…, token = …).
const SECRET_KEY_IN_CONTEXT =
  /((?:(?<![a-z])(?:secret|credentials?|key|token)|\[REDACTED\])[^A-Za-z0-9/+\n]{1,4})[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/gi;

// STS session tokens start with one of these base64 prefixes, wherever they appear.
const BARE_SESSION_TOKEN = /(?:FwoGZXIvYXdz|IQoJb3JpZ2luX2Vj)[A-Za-z0-9/+=%]{20,}/g;

// `password` is unambiguous even inside a longer name (dbPassword); the short
// forms count only as a whole word or after a separator (SMTP_PASS), so words
// like "bypass" or "compass" are left alone. The match starts at the word
// itself (what comes before it is kept anyway): a pattern that first scanned
// the name before it ran in quadratic time over long runs of letters.
const PASSWORD_ASSIGNMENT = new RegExp(
  `((?:password|passwd|passphrase|(?<![A-Za-z0-9])(?:pass|pwd))["']?\\s*[:=]\\s*)${NOT_MASKED}("[^"]*"|'[^']*'|${VALUE})`,
  'gi',
);

const BEARER = /\b(bearer\s+)[A-Za-z0-9\-._~+/]+=*/gi;
// One run of spaces at a time: two adjacent optional ones backtrack quadratically over a long blank run.
const AUTHORIZATION = /\b(authorization["']?\s*[:=]\s*["']?(?:(?:bearer|basic|token|digest|AWS4-HMAC-SHA256)\s+)?)[^\s"']+/gi;

// Anchored at `://`, the scheme looked behind (bounded) once that is found: scanning scheme-like
// runs from every position was quadratic.
const URL_USERINFO = /(:\/\/)(?<=\b[a-z][a-z0-9+.-]{0,31}:\/\/)([^:/\s@]+:)[^@\s/]+(@)/gi;

const PRESIGNED_SIGNATURE = /(X-Amz-Signature=)[0-9a-f]{16,}/gi;

// Every pattern above needs one of these words; most log lines hold none and
// skip the ten passes (a chatty apply redacts tens of thousands of lines).
const MAY_HOLD_SECRET =
  /AKIA|ASIA|ABIA|ACCA|FwoGZXIvYXdz|IQoJb3JpZ2luX2Vj|secret|token|credential|key|pass|pwd|bearer|authoriz|:\/\/|signature|\[REDACTED\]/i;

function keepQuotes(value: string): string {
  const q = value[0];
  if (value.length >= 2 && (q === '"' || q === "'") && value.at(-1) === q) return `${q}${REDACTED}${q}`;
  return REDACTED;
}

/** Known secrets in the forms they take in output: raw, URL-encoded, JSON-escaped; longest first. */
function secretForms(secrets: readonly string[]): string[] {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (!secret?.trim()) continue;
    forms.add(secret);
    forms.add(encodeURIComponent(secret));
    forms.add(JSON.stringify(secret).slice(1, -1));
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

function redactWith(line: string, forms: readonly string[]): string {
  let out = line;
  for (const form of forms) {
    if (out.includes(form)) out = out.split(form).join(REDACTED);
  }
  if (!MAY_HOLD_SECRET.test(out)) return out;
  out = out.replace(AWS_KEY_ID, REDACTED);
  out = out.replace(BARE_SESSION_TOKEN, REDACTED);
  out = out.replace(SECRET_KEY_ASSIGNMENT, (_m, key: string, sep: string) => `${key}${sep}${REDACTED}`);
  out = out.replace(SESSION_TOKEN_ASSIGNMENT, (_m, key: string, sep: string) => `${key}${sep}${REDACTED}`);
  out = out.replace(SECRET_KEY_IN_CONTEXT, (_m, before: string) => `${before}${REDACTED}`);
  out = out.replace(PASSWORD_ASSIGNMENT, (_m, key: string, value: string) => `${key}${keepQuotes(value)}`);
  out = out.replace(AUTHORIZATION, (_m, before: string) => `${before}${REDACTED}`);
  out = out.replace(BEARER, (_m, scheme: string) => `${scheme}${REDACTED}`);
  out = out.replace(URL_USERINFO, (_m, slashes: string, user: string, at: string) => `${slashes}${user}${REDACTED}${at}`);
  out = out.replace(PRESIGNED_SIGNATURE, (_m, key: string) => `${key}${REDACTED}`);
  return out;
}

/**
 * Hides AWS credentials, session tokens, passwords, bearer tokens and every
 * exact string in `extraSecrets` (secrets the caller knows, such as the job's
 * own keys) behind `[REDACTED]`.
 */
export function redactLine(line: string, extraSecrets?: readonly string[]): string {
  return redactWith(line, extraSecrets?.length ? secretForms(extraSecrets) : []);
}

/** `redactLine` bound to one job's known secrets, prepared once for many lines. */
export function redactorFor(extraSecrets: readonly string[] = []): (line: string) => string {
  const forms = secretForms(extraSecrets);
  return (line) => redactWith(line, forms);
}
