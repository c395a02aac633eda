import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  MAX_CSV_BYTES,
  MAX_COLUMN_WARNINGS,
  MAX_CSV_ROWS,
  formatCsvError,
  parseUsersCsv,
  usersToCsv,
  type AppUser,
  type CsvRowError,
  type CsvWarning,
} from '../../src/domain/usersCsv.js';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/csv');

function corpus(kind: 'good' | 'bad') {
  return fs
    .readdirSync(path.join(FIXTURES, kind))
    .filter((f) => f.endsWith('.csv'))
    .sort();
}

function expectedFor<T>(kind: 'good' | 'bad', name = 'expected.json'): Record<string, T> {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, kind, name), 'utf8'));
}

describe('users CSV corpus', () => {
  const good = expectedFor<AppUser[]>('good');
  const bad = expectedFor<CsvRowError[]>('bad');
  // The good files that are accepted with warnings (dropped columns); the others have none.
  const goodWarnings = expectedFor<CsvWarning[]>('good', 'warnings.json');

  it('has an expectation for every file and a file for every expectation', () => {
    expect(Object.keys(good).sort()).toEqual(corpus('good'));
    expect(Object.keys(bad).sort()).toEqual(corpus('bad'));
    for (const file of Object.keys(goodWarnings)) expect(corpus('good')).toContain(file);
  });

  it.each(corpus('good'))('reads good/%s', (file) => {
    const { users, errors, warnings } = parseUsersCsv(fs.readFileSync(path.join(FIXTURES, 'good', file)));
    expect(errors).toEqual([]);
    expect(users).toEqual(good[file]);
    expect(warnings).toEqual(goodWarnings[file] ?? []);
  });

  it.each(corpus('bad'))('refuses bad/%s with the exact errors', (file) => {
    const { errors } = parseUsersCsv(fs.readFileSync(path.join(FIXTURES, 'bad', file)));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors).toEqual(bad[file]);
  });

  it.each(corpus('good'))('round-trips good/%s through usersToCsv', (file) => {
    const { users } = parseUsersCsv(fs.readFileSync(path.join(FIXTURES, 'good', file)));
    const again = parseUsersCsv(usersToCsv(users));
    expect(again.errors).toEqual([]);
    expect(again.users).toEqual(users);
  });
});

describe('parseUsersCsv', () => {
  it('gives the same answer for a string and its UTF-8 bytes', () => {
    const text = '\uFEFFusername,email,display_name\njose,jose@example.com,José\n';
    expect(parseUsersCsv(text)).toEqual(parseUsersCsv(Buffer.from(text, 'utf8')));
    expect(parseUsersCsv(text).users).toEqual([{ username: 'jose', email: 'jose@example.com', displayName: 'José' }]);
  });

  it('refuses files over 1 MB before parsing them', () => {
    const row = 'someone,someone@example.com,user,Some One\n';
    const big = `username,email,role,display_name\n${row.repeat(Math.ceil(MAX_CSV_BYTES / row.length))}`;
    expect(parseUsersCsv(big)).toEqual({
      users: [],
      errors: [{ line: null, message: 'users CSV is 1.0 MB; the limit is 1 MB (1,048,576 bytes)' }],
      warnings: [],
    });
    expect(parseUsersCsv(Buffer.alloc(MAX_CSV_BYTES + 1, 'a')).errors[0].message).toMatch(/limit is 1 MB/);
  });

  it('refuses more than 10,000 rows, naming the first line past the limit', () => {
    const rows = Array.from({ length: MAX_CSV_ROWS + 5 }, (_, i) => `u${i},u${i}@example.com`);
    const { errors, users } = parseUsersCsv(`username,email\n${rows.join('\n')}\n`);
    expect(errors).toEqual([{ line: MAX_CSV_ROWS + 2, message: 'too many rows: at most 10,000 users per file' }]);
    expect(users).toHaveLength(MAX_CSV_ROWS);
  });

  it('accepts exactly 10,000 rows', () => {
    const rows = Array.from({ length: MAX_CSV_ROWS }, (_, i) => `u${i},u${i}@example.com`);
    const { errors, users } = parseUsersCsv(`username,email\n${rows.join('\n')}\n`);
    expect(errors).toEqual([]);
    expect(users).toHaveLength(MAX_CSV_ROWS);
  });

  it('refuses a string that was decoded lossily upstream', () => {
    expect(parseUsersCsv('username,email\nJos\uFFFD,j@example.com\n').errors[0].message).toMatch(/replacement character/);
  });

  it('refuses every formula-looking first character, naming row and column', () => {
    for (const start of ['=', '+', '-', '@']) {
      const { errors } = parseUsersCsv(`username,email,role\nalice,alice@example.com,${start}1\n`);
      expect(errors).toEqual([
        {
          line: 2,
          column: 'role',
          message: `role starts with "${start}", which spreadsheets run as a formula; remove the leading character`,
        },
      ]);
    }
  });

  it('checks formulas even after leading spaces', () => {
    expect(parseUsersCsv('username,email,role\nalice,alice@example.com,  =1+1\n').errors).toHaveLength(1);
  });

  it('gives line numbers of where a multi-line record starts', () => {
    const { errors } = parseUsersCsv('username,email,display_name\r\n\r\na,a@example.com,"x\r\ny"\r\nb,nope,B\r\n');
    expect(errors.map((e) => [e.line, e.column])).toEqual([
      [3, 'display_name'],
      [5, 'email'],
    ]);
  });

  it('drops columns other than the four with a warning, and stores none of their cells', () => {
    const csv = 'username,email,Phone Number,role\nalice,alice@example.com,555-0100,admin\n';
    const result = parseUsersCsv(csv);
    expect(result).toEqual({
      users: [{ username: 'alice', email: 'alice@example.com', role: 'admin' }],
      errors: [],
      warnings: [
        {
          line: 1,
          column: 'Phone Number',
          message: 'column "Phone Number" was dropped: only username, email, role, display_name are used',
        },
      ],
    });
    expect(usersToCsv(result.users)).toBe('username,email,role,display_name\nalice,alice@example.com,admin,\n');
    // A file of only the known columns has no warnings.
    expect(parseUsersCsv('username,email\nalice,alice@example.com\n').warnings).toEqual([]);
  });

  it('names at most 20 dropped columns, each quoted short, and counts the rest', () => {
    const long = 'x'.repeat(5000);
    const others = Array.from({ length: MAX_COLUMN_WARNINGS + 4 }, (_, i) => `extra${i}`);
    const header = ['username', 'email', long, ...others].join(',');
    const { users, errors, warnings } = parseUsersCsv(`${header}\nalice,alice@example.com\n`);
    expect(errors).toEqual([]);
    expect(users).toEqual([{ username: 'alice', email: 'alice@example.com' }]);
    expect(warnings).toHaveLength(MAX_COLUMN_WARNINGS + 1);
    expect(warnings[0].column).toBe(`${'x'.repeat(64)}…`);
    expect(warnings[1].column).toBe('extra0');
    expect(warnings.at(-1)).toEqual({ line: 1, message: 'and 5 more columns were dropped' });
  });

  it('still requires username and email and refuses a column given twice, whatever else the file has', () => {
    const missing = parseUsersCsv('username,phone\nalice,555-0100\n');
    expect(missing.users).toEqual([]);
    expect(missing.errors).toEqual([{ line: 1, column: 'email', message: 'required column "email" is missing from the header' }]);
    expect(missing.warnings.map((w) => w.column)).toEqual(['phone']);

    const twice = parseUsersCsv('username,email,Email,phone\nalice,a@example.com,b@example.com,1\n');
    expect(twice.errors).toEqual([{ line: 1, column: 'email', message: 'column "email" appears twice in the header' }]);
    // A row with more cells than the header is still a broken row, not a dropped column.
    expect(parseUsersCsv('username,email,phone\nalice,a@example.com,1,2\n').errors).toEqual([
      { line: 2, message: 'too many columns: the row has 4 cells, the header has 3' },
    ]);
  });

  it('formats errors with their line', () => {
    expect(formatCsvError({ line: 4, column: 'email', message: 'email is missing' })).toBe('line 4: email is missing');
    expect(formatCsvError({ line: null, message: 'users CSV is empty' })).toBe('users CSV is empty');
  });
});

describe('usersToCsv', () => {
  it('writes the canonical header and quotes only what needs it', () => {
    expect(
      usersToCsv([
        { username: 'admin', email: 'admin@example.com', role: 'admin', displayName: 'Administrator' },
        { username: 'jo', email: 'jo@example.com', displayName: 'Doe, "Jo"' },
        { username: 'x', email: 'x@example.com' },
      ]),
    ).toBe(
      'username,email,role,display_name\n' +
        'admin,admin@example.com,admin,Administrator\n' +
        'jo,jo@example.com,,"Doe, ""Jo"""\n' +
        'x,x@example.com,,\n',
    );
  });

  it('writes a header-only file for no users', () => {
    expect(usersToCsv([])).toBe('username,email,role,display_name\n');
  });
});
