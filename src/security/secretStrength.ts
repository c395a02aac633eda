/**
 * Whether a secret from the environment is one a production service may use:
 * not a placeholder from an example file, and not guessable. The estimate is
 * the text's own character entropy times its length: a random key scores
 * about 4 to 6 bits a character, a repeated or dictionary-like one far less.
 */

/** Words that mark a value someone was meant to replace. */
const PLACEHOLDER =
  /change[-_ ]?me|replace[-_ ]?me|placeholder|example|your[-_ ]?(?:secret|password|key|token)|^x+$|^secret$|^password$/i;

/** Bits of entropy, estimated from how the characters of `value` are spread. */
export function estimatedBits(value: string): number {
  if (!value) return 0;
  const counts = new Map<string, number>();
  for (const ch of value) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  const n = [...value].length;
  let perChar = 0;
  for (const c of counts.values()) perChar -= (c / n) * Math.log2(c / n);
  return perChar * n;
}

export interface SecretRule {
  minLength: number;
  minBits: number;
  /** How to make a good one, for the message. */
  hint: string;
}

/** What is wrong with `value` as the secret `name`, or null. */
export function weakSecretProblem(name: string, value: string, rule: SecretRule): string | null {
  if (PLACEHOLDER.test(value)) return `${name}: a placeholder from an example is refused in production; ${rule.hint}`;
  if (value.length < rule.minLength) return `${name}: production needs at least ${rule.minLength} characters; ${rule.hint}`;
  const bits = estimatedBits(value);
  if (bits < rule.minBits) {
    return `${name}: too easy to guess (about ${Math.floor(bits)} bits, production needs ${rule.minBits}); ${rule.hint}`;
  }
  return null;
}

export const SECRET_RULES = {
  SECRET_KEY: { minLength: 32, minBits: 100, hint: 'make one with openssl rand -base64 48' },
  APP_ADMIN_PASS: { minLength: 12, minBits: 40, hint: 'use a long random password (openssl rand -base64 18)' },
  API_TOKEN: { minLength: 20, minBits: 80, hint: 'make one with openssl rand -base64 32' },
  PAYLOAD_KEY: { minLength: 40, minBits: 120, hint: 'make one with openssl rand -base64 32' },
  OIDC_CLIENT_SECRET: { minLength: 16, minBits: 60, hint: 'use the secret your identity provider issued' },
} satisfies Record<string, SecretRule>;
