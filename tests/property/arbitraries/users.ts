import fc from 'fast-check';
import type { AppUser } from '../../../src/domain/usersCsv.js';
import { userText } from './text.js';

/**
 * Users the CSV format can carry, from the rules the upload page states:
 * usernames of letters, digits and . _ - @ + (starting with a letter or
 * digit), e-mail addresses with a dotted domain, free-text role and display
 * name. Cells a spreadsheet would run as formulas (= + - @ first) and
 * control characters are refused by design, and the parser trims cells, so
 * valid values are trimmed and start with something else.
 */

const username = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._@+-]{0,20}$/);

const domainLabel = fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9-]{0,8}[A-Za-z0-9])?$/);
export const email = fc
  .tuple(
    fc.stringMatching(/^[A-Za-z0-9.!#$%&'*/?^_`{|}~][A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{0,15}$/),
    fc.array(domainLabel, { minLength: 2, maxLength: 3 }),
  )
  .map(([local, labels]) => `${local}@${labels.join('.')}`);

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what the CSV refuses
const CONTROL = /[\u0000-\u001f\u007f]/g;

/** Free text as a spreadsheet cell that the parser keeps as it is. */
export function cellText(maxLength: number) {
  return userText({ minLength: 1, maxLength: Math.min(maxLength, 30) })
    .map((s) =>
      s
        .replace(CONTROL, '')
        .replace(/^[\s=+\-@]+/, '')
        .trim(),
    )
    .filter((s) => s !== '' && s.length <= maxLength);
}

export const appUser: fc.Arbitrary<AppUser> = fc.record(
  { username, email, role: cellText(64), displayName: cellText(128) },
  { requiredKeys: ['username', 'email'] },
);

/** Usernames are unique without regard to case. */
export const appUsers = (maxLength = 6) => fc.uniqueArray(appUser, { maxLength, selector: (u) => u.username.toLowerCase() });
