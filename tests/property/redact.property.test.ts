import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogSink } from '../../src/activities/logSink.js';
import { listLogLines } from '../../src/db/logs.js';
import { REDACTED, redactLine, redactorFor } from '../../src/domain/redact.js';
import { createTempDb } from '../support/tempDb.js';
import { awkwardChar, userText } from './arbitraries/text.js';
import { newJobRow } from '../support/jobRows.js';

/**
 * What a user depends on: a secret the job registered never reaches the
 * stored log, in any of the forms output carries it (raw, URL-encoded,
 * JSON-escaped), wherever in a line it sits and whatever the rest of the
 * line holds; the log sink's cut of long lines never leaves a piece of one
 * behind; and the patterns never throw, whatever the line.
 */

const RUNS = { numRuns: 300 };
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const REGEX_META = [...'.*+?^$()[]{}|\\/'];
/** Secrets of a realistic length: access keys, tokens, external ids, and anything else a caller registers. */
const secret = fc
  .string({
    unit: fc.oneof(awkwardChar, fc.constantFrom(...REGEX_META), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })),
    minLength: 8,
    maxLength: 64,
  })
  .filter(usable);

/** Blank strings are ignored by design (hiding them would hide every space); see meetsMarker. */
function usable(s: string) {
  return s.length >= 8 && s.trim() !== '' && !formsOf(s).some(meetsMarker);
}

/** The forms the redactor promises to catch. */
function formsOf(s: string) {
  return [s, encodeURIComponent(s), JSON.stringify(s).slice(1, -1)];
}

/**
 * A secret that begins where the marker ends ("]…", "D]…") or ends where it begins ("…[RE") can be
 * formed again from a marker and the text beside it; real credentials (letters, digits, / + = - _)
 * never do, and the redactor makes no claim for them.
 */
function meetsMarker(s: string) {
  if (s.includes(REDACTED) || REDACTED.includes(s)) return true;
  for (let k = 1; k < REDACTED.length; k++) {
    if (s.startsWith(REDACTED.slice(-k)) || s.endsWith(REDACTED.slice(0, k))) return true;
  }
  return false;
}

/** Text around a secret: anything, including pieces of the marker and of the secret itself. */
const around = (s: string) =>
  fc
    .array(fc.oneof(userText(), fc.constantFrom(REDACTED, '[', ']', s.slice(0, 3), s.slice(-3))), { maxLength: 4 })
    .map((parts) => parts.join(''));

function expectNoneLeft(out: string, secrets: readonly string[]) {
  for (const s of secrets)
    for (const form of formsOf(s))
      expect(out.includes(form), `${JSON.stringify(form)} left in ${JSON.stringify(out)}`).toBe(false);
}

describe('redaction (property)', () => {
  it('hides a registered secret in any form, anywhere in any line', () => {
    fc.assert(
      fc.property(
        secret.chain((s) =>
          fc.tuple(fc.constant(s), fc.array(fc.tuple(around(s), fc.nat(2)), { minLength: 1, maxLength: 3 }), around(s)),
        ),
        ([s, pieces, tail]) => {
          const line = pieces.map(([text, form]) => `${text}${formsOf(s)[form]}`).join('') + tail;
          expectNoneLeft(redactorFor([s])(line), [s]);
          expectNoneLeft(redactLine(line, [s]), [s]);
        },
      ),
      RUNS,
    );
  });

  it('hides every one of several registered secrets, overlapping ones too', () => {
    fc.assert(
      fc.property(
        fc.array(secret, { minLength: 2, maxLength: 4 }),
        fc.nat(),
        fc.array(fc.tuple(fc.nat(), userText()), { maxLength: 6 }),
        (independent, cut, picks) => {
          // One secret that shares its start with another's end, as a key id inside a longer token would.
          const [a, b] = independent;
          const chars = Array.from(a);
          const overlapping = `${chars.slice(cut % chars.length).join('')}${b}`;
          const secrets = usable(overlapping) ? [...independent, overlapping] : independent;
          // Secrets next to each other share characters at the seams; each must still go.
          const line = picks.map(([i, text]) => `${text}${secrets[i % secrets.length]}`).join('') + secrets.join('');
          expectNoneLeft(redactorFor(secrets)(line), secrets);
        },
      ),
      RUNS,
    );
  });

  it('hides the credential shapes it documents, with no secret registered, whatever text is around them', () => {
    const b64 = (min: number, max: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9/+]{${min},${max}}$`));
    const quoted = (sep: string, value: string) => {
      const q = /["']$/.test(sep) ? sep.slice(-1) : '';
      return `${sep}${value}${q}`;
    };
    const shape = fc.oneof(
      fc
        .tuple(fc.constantFrom('AKIA', 'ASIA', 'ABIA', 'ACCA'), fc.stringMatching(/^[A-Z0-9]{16}$/))
        .map(([p, rest]) => ({ value: `${p}${rest}`, text: ` ${p}${rest} ` })),
      fc
        .tuple(
          fc.constantFrom(
            'aws_secret_access_key',
            'AWS_SECRET_ACCESS_KEY',
            'SecretAccessKey',
            'secret-key',
            'aws_session_token',
            'x-amz-security-token',
            'SecurityToken',
            'password',
            'dbPassword',
            'SMTP_PASS',
            'pwd',
            'passphrase',
          ),
          fc.constantFrom('=', ' = ', ': ', ':', '="', "='", '": "', '":"'),
          b64(12, 40),
        )
        .map(([key, sep, value]) => ({ value, text: ` ${sep.startsWith('"') ? '"' : ''}${key}${quoted(sep, value)} ` })),
      fc
        .tuple(fc.constantFrom('secret', 'credentials', 'key', 'token'), fc.constantFrom(' ', ': ', ' = ', ' "'), b64(40, 40))
        .map(([word, sep, value]) => ({ value, text: ` ${word}${sep}${value} ` })),
      fc
        .tuple(
          fc.constantFrom('Authorization: Bearer ', 'authorization=token ', 'bearer '),
          fc.stringMatching(/^[A-Za-z0-9._~+/-]{12,40}$/),
        )
        .map(([head, value]) => ({ value, text: ` ${head}${value} ` })),
      fc
        .tuple(
          fc.constantFrom('https', 'git+ssh', 'postgres'),
          fc.stringMatching(/^[a-z0-9]{1,8}$/),
          fc.stringMatching(/^[A-Za-z0-9!$*_.~-]{12,24}$/),
        )
        .map(([scheme, user, value]) => ({ value, text: ` ${scheme}://${user}:${value}@example.com/x ` })),
      fc.stringMatching(/^[0-9a-f]{64}$/).map((value) => ({ value, text: `?X-Amz-Signature=${value}&x=1` })),
      fc
        .tuple(fc.constantFrom('FwoGZXIvYXdz', 'IQoJb3JpZ2luX2Vj'), b64(24, 60))
        .map(([head, rest]) => ({ value: `${head}${rest}`, text: ` ${head}${rest} ` })),
    );
    fc.assert(
      fc.property(userText(), shape, userText(), (before, { value, text }, after) => {
        const out = redactLine(`${before}${text}${after}`);
        expect(out.includes(value), `${value} left in ${JSON.stringify(out)}`).toBe(false);
      }),
      RUNS,
    );
  });

  it('never throws on any line, lone surrogates included', () => {
    const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
    const word = fc.constantFrom(
      'password=',
      'secret_key: ',
      'Authorization: Bearer ',
      'https://u:',
      '@',
      'AKIA',
      'FwoGZXIvYXdz',
      'X-Amz-Signature=',
      REDACTED,
      '"',
      "'",
    );
    const line = fc
      .array(fc.oneof(word, userText(), loneSurrogate, fc.string({ unit: 'binary', maxLength: 12 })), { maxLength: 12 })
      .map((p) => p.join(''));
    fc.assert(
      fc.property(line, fc.array(secret, { maxLength: 2 }), (l, secrets) => {
        expect(typeof redactLine(l)).toBe('string');
        expect(typeof redactorFor(secrets)(l)).toBe('string');
      }),
      RUNS,
    );
  });

  describe('through the log sink, which cuts long lines', () => {
    let t: Awaited<ReturnType<typeof createTempDb>>;
    beforeAll(async () => {
      t = await createTempDb();
    });
    afterAll(async () => {
      await t?.cleanup();
    });

    it('stores lines redacted before they are cut: no secret, and no piece of one where a cut met it', async () => {
      await fc.assert(
        fc.asyncProperty(
          secret,
          fc.integer({ min: 8, max: 80 }),
          fc.nat(),
          userText({ maxLength: 40 }),
          async (s, maxLineLength, into, rest) => {
            // The secret starts before the cut and ends after it.
            const cutInto = 1 + (into % (s.length - 1));
            const line = `${'x'.repeat(Math.max(0, maxLineLength - cutInto))}${s}${rest}`;
            const jobId = await newJobRow(t.db, { prefix: 'jprop' });
            const sink = new LogSink({ db: t.db, jobId, step: 'apply', attempt: 1, secrets: [s], maxLineLength });
            sink.write('stdout', line);
            await sink.close();
            const [stored] = await listLogLines(t.db, jobId);
            expectNoneLeft(stored.line, [s]);
            const redacted = redactorFor([s])(line);
            if (redacted.length <= maxLineLength) {
              expect(stored.line).toBe(redacted);
              return;
            }
            // The kept part is the redacted line's start, a character short when the cut would split a pair.
            const kept = stored.line.replace(/… \[\d+ characters cut\]$/, '');
            expect(redacted.startsWith(kept)).toBe(true);
            expect(kept.length).toBeGreaterThanOrEqual(maxLineLength - 1);
            expect(kept).not.toMatch(LONE_SURROGATE);
          },
        ),
        { numRuns: 100 },
      );
    });
  });
});
