import fc from 'fast-check';

/**
 * Text a user can type and the job spec accepts: any code point but NUL and
 * U+FFFD, which the spec refuses (textProblems); lone surrogates never come
 * from the 'binary' unit. Weighted towards characters that mean something to
 * YAML, bash, CSV or regular expressions, which plain random text rarely hits.
 */
const AWKWARD = [
  ...'$\'"`\\\n\r\t#:{}[],&*!|>%@-=+?^.()/; ~',
  '${HOME}',
  '$$',
  'EOF',
  'COMPOSE_EOF',
  '\u2028',
  '\u0085',
  '\ufeff',
  '\u007f',
  '😀',
  'é',
];

export const awkwardChar = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...AWKWARD) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
);

export function userText(constraints: { minLength?: number; maxLength?: number } = {}) {
  return fc
    .string({ unit: awkwardChar, minLength: constraints.minLength ?? 0, maxLength: constraints.maxLength ?? 24 })
    .map((s) => s.replace(/[\0\uFFFD]/g, ''))
    .filter((s) => s.length >= (constraints.minLength ?? 0));
}
