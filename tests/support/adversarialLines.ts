/**
 * Lines of `size` characters that each defeated one of the redactor's
 * patterns once (quadratic backtracking: 8 s at 100 KB, minutes at 1 MB),
 * by what they hold. The unit tests and `npm run bench` redact them.
 */
export function adversarialLines(size: number): Record<string, string> {
  const fill = (unit: string) => unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
  return {
    'a name of separated words before "pass"': `${fill('a_')}pass`,
    'letters before "password" with no separator': `${fill('a')}passwordx`,
    'a scheme-like run before "://"': `${fill('a')} ://`,
    'an unfinished URL user': `http://${fill('a')} x`,
    'blanks after "authorization:"': `authorization: ${fill(' ')}`,
    'blanks after "secret_key"': `secret_key${fill(' ')}x`,
    'blanks after "session_token"': `session_token${fill(' ')}`,
    'an unclosed quoted password': `password="${fill('a')}`,
    'repeated "password="': fill('password='),
    'repeated key words with 39-character values': fill(`key ${'A'.repeat(39)} `),
    'repeated access key prefixes': fill('AKIA'),
    'an endless session token': `FwoGZXIvYXdz${fill('A')}`,
    'an endless signature': `X-Amz-Signature=${fill('a')}`,
    'an endless bearer token': `bearer ${fill('a')}`,
    'repeated [REDACTED] marks': fill('[REDACTED] '),
    'repeated "pass " words': fill('pass '),
    'repeated "://user:" without @': fill('h://u:'),
  };
}
