import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CSV_COLUMNS, isEmail, parseUsersCsv, usersToCsv, type AppUser } from '../../src/domain/usersCsv.js';
import { appUsers } from './arbitraries/users.js';

/**
 * The users CSV comes from spreadsheets: whatever way a spreadsheet writes a
 * valid list (column order, header spelling, line ends, BOM, quoting, blank
 * lines, extra columns), the parser must read back exactly those users; and
 * no text or bytes at all may make it throw.
 */

const RUNS = { numRuns: 200 };

type Column = (typeof CSV_COLUMNS)[number];

const headerSpelling: Record<Column, string[]> = {
  username: ['username', 'Username', 'USERNAME', ' username '],
  email: ['email', 'Email', 'EMAIL', ' Email'],
  role: ['role', 'Role', 'ROLE '],
  display_name: ['display_name', 'Display Name', 'display-name', 'DISPLAY NAME', 'Display  Name'],
};

const sheetStyle = fc.record({
  order: fc.shuffledSubarray([...CSV_COLUMNS], { minLength: 4, maxLength: 4 }),
  spelling: fc.array(fc.nat(4), { minLength: 4, maxLength: 4 }),
  eol: fc.constantFrom('\n', '\r\n', '\r'),
  bom: fc.boolean(),
  // 'all': every cell quoted; 'needed': RFC 4180; 'loose': quotes inside unquoted cells left as text, as spreadsheets do.
  quoting: fc.constantFrom('all', 'needed', 'loose'),
  blankLinesAfter: fc.array(fc.constantFrom('', ',,,', ' '), { maxLength: 3 }),
  extraColumn: fc.boolean(),
  trailingComma: fc.boolean(),
  asBytes: fc.boolean(),
});
type SheetStyle = typeof sheetStyle extends fc.Arbitrary<infer T> ? T : never;

function cell(value: string, quoting: SheetStyle['quoting']): string {
  const quoted = `"${value.replace(/"/g, '""')}"`;
  if (quoting === 'all') return quoted;
  if (quoting === 'needed') return /[",\r\n]/.test(value) ? quoted : value;
  return /[,\r\n]/.test(value) || value.startsWith('"') ? quoted : value;
}

const cellOf = (u: AppUser, c: Column) =>
  ({ username: u.username, email: u.email, role: u.role ?? '', display_name: u.displayName ?? '' })[c];

/** The list as a spreadsheet might save it. */
function spreadsheet(users: AppUser[], style: SheetStyle): string | Buffer {
  const header = style.order.map((c, i) => headerSpelling[c][style.spelling[i] % headerSpelling[c].length]);
  if (style.extraColumn) header.push('Phone');
  const rows = users.map((u, r) => {
    const cells = style.order.map((c) => cell(cellOf(u, c), style.quoting));
    if (style.extraColumn) cells.push(`555-01${r}`);
    return `${cells.join(',')}${style.trailingComma ? ',' : ''}`;
  });
  const lines = [header.map((h) => cell(h, style.quoting)).join(',')];
  rows.forEach((row, i) => {
    lines.push(row);
    if (i < style.blankLinesAfter.length) lines.push(style.blankLinesAfter[i]);
  });
  const text = `${style.bom ? '\ufeff' : ''}${lines.join(style.eol)}${style.eol}`;
  return style.asBytes ? Buffer.from(text, 'utf8') : text;
}

/** What a user must satisfy to be handed to the instance at all. */
function expectValidUser(u: AppUser) {
  expect(u.username).toMatch(/^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/);
  expect(isEmail(u.email)).toBe(true);
  for (const v of [u.role, u.displayName]) {
    if (v === undefined) continue;
    expect(v).toBe(v.trim());
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must not pass
    expect(v).not.toMatch(/^$|^[=+\-@]|[\u0000-\u001f\u007f]/);
  }
}

const csvToken = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(',', '"', '""', '\n', '\r\n', '\r', ' ', '\t', '=', '@', '-', '\ufeff', '\uFFFD', '\0'),
  },
  { weight: 3, arbitrary: fc.constantFrom(...CSV_COLUMNS, 'Display Name', 'alice', 'a@b.co', 'x@example.com', 'admin') },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
);
/** Text near the format: a header or not, then cells, separators, quotes and line ends in any order. */
const tokenSoup = fc
  .tuple(fc.constantFrom('', 'username,email,role,display_name\n', 'email,username\r\n'), fc.array(csvToken, { maxLength: 40 }))
  .map(([head, tokens]) => head + tokens.join(''));
/** A valid spreadsheet with one slip: a token typed in, some characters lost. Most still hold users. */
const slippedSheet = fc.tuple(appUsers(), sheetStyle, fc.nat(), fc.nat(3), csvToken).map(([users, style, at, cut, typed]) => {
  // By code points: a lone surrogate is not text anyone can send (the job spec refuses it before this parser).
  const chars = Array.from(spreadsheet(users, { ...style, asBytes: false }) as string);
  const i = at % (chars.length + 1);
  return [...chars.slice(0, i), typed, ...chars.slice(i + cut)].join('');
});
const csvLikeText = fc.oneof(tokenSoup, slippedSheet);

function lineCount(text: string) {
  return text.replace(/\r\n?/g, '\n').split('\n').length;
}

describe('usersCsv (property)', () => {
  it('the canonical file of any valid users parses back to exactly those users', () => {
    fc.assert(
      fc.property(appUsers(), (users) => {
        expect(parseUsersCsv(usersToCsv(users))).toEqual({ users, errors: [], warnings: [] });
      }),
      RUNS,
    );
  });

  it('reads any valid users back from however a spreadsheet saves them', () => {
    fc.assert(
      fc.property(appUsers(), sheetStyle, (users, style) => {
        const result = parseUsersCsv(spreadsheet(users, style));
        expect(result.errors).toEqual([]);
        expect(result.users).toEqual(users);
        expect(result.warnings).toHaveLength(style.extraColumn ? 1 : 0);
      }),
      RUNS,
    );
  });

  it('never throws on text near the format; errors point at real lines; users it returns are valid', () => {
    fc.assert(
      fc.property(csvLikeText, (text) => {
        const result = parseUsersCsv(text);
        const lines = lineCount(text);
        for (const e of [...result.errors, ...result.warnings]) {
          if (e.line !== null) {
            expect(Number.isInteger(e.line)).toBe(true);
            expect(e.line).toBeGreaterThanOrEqual(1);
            expect(e.line).toBeLessThanOrEqual(lines);
          }
          expect(e.message).not.toBe('');
        }
        result.users.forEach(expectValidUser);
        expect(new Set(result.users.map((u) => u.username.toLowerCase())).size).toBe(result.users.length);
        // An accepted file is stored canonical, and the worker parses that again: it must mean the same.
        if (result.errors.length === 0) {
          expect(parseUsersCsv(usersToCsv(result.users))).toEqual({ users: result.users, errors: [], warnings: [] });
        }
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on arbitrary bytes, and says which line when it refuses them', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, withHeader) => {
        const input = Buffer.concat([Buffer.from(withHeader ? 'username,email\n' : ''), Buffer.from(bytes)]);
        const result = parseUsersCsv(input);
        for (const e of result.errors) expect(e.line === null || e.line >= 1).toBe(true);
        result.users.forEach(expectValidUser);
      }),
      RUNS,
    );
  });
});
