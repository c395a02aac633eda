import { parse, type CsvError } from 'csv-parse/sync';

/**
 * The application users a job seeds from an uploaded CSV. Files come from
 * spreadsheets, so the parser is forgiving about the things spreadsheets do
 * (BOM, header case, blank lines, trailing empty cells) and strict about the
 * things that hurt later: cells a spreadsheet would run as formulas, bytes
 * that are not UTF-8, and files too large for EC2 user data anyway.
 *
 * A non-empty `errors` means the file is refused as a whole; `users` then
 * holds only the rows that were fine, for previews. `warnings` never refuse
 * the file: they say what was left out of it (columns other than the four
 * below are dropped, as the original service did).
 */

export interface AppUser {
  username: string;
  email: string;
  role?: string;
  displayName?: string;
}

export interface CsvRowError {
  /** 1-based line in the file where the row starts; null for whole-file problems. */
  line: number | null;
  /** The column the problem is in, as the header names it. */
  column?: string;
  message: string;
}

/** Something left out of an accepted file (a dropped column); same shape as an error, never a refusal. */
export type CsvWarning = CsvRowError;

export interface UsersCsvResult {
  users: AppUser[];
  errors: CsvRowError[];
  warnings: CsvWarning[];
}

export const MAX_CSV_BYTES = 1024 * 1024;
export const MAX_CSV_ROWS = 10_000;

export const CSV_COLUMNS = ['username', 'email', 'role', 'display_name'] as const;
/** Dropped columns named one by one; past this many, one warning counts the rest. */
export const MAX_COLUMN_WARNINGS = 20;
/** A dropped column's header as warnings quote it: a header cell can be as long as the file. */
const MAX_QUOTED_HEADER = 64;
type Column = (typeof CSV_COLUMNS)[number];
const REQUIRED_COLUMNS: readonly Column[] = ['username', 'email'];

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;
// The WHATWG "valid e-mail address" rule, with a dot required in the domain.
const EMAIL =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
const MAX_LENGTH: Record<Column, number> = { username: 64, email: 254, role: 64, display_name: 128 };
// Spreadsheets treat these first characters as the start of a formula (OWASP "CSV injection").
const FORMULA_START = /^[=+\-@]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this finds
const CONTROL = /[\u0000-\u001f\u007f]/;

export function isEmail(value: string): boolean {
  return value.length <= MAX_LENGTH.email && EMAIL.test(value);
}

export function formatCsvError(e: CsvRowError): string {
  return e.line === null ? e.message : `line ${e.line}: ${e.message}`;
}

function fileError(message: string): UsersCsvResult {
  return { users: [], errors: [{ line: null, message }], warnings: [] };
}

function shortened(text: string) {
  const chars = Array.from(text);
  return chars.length > MAX_QUOTED_HEADER ? `${chars.slice(0, MAX_QUOTED_HEADER).join('')}…` : text;
}

function megabytes(bytes: number) {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** Bytes to text, refusing anything that is not UTF-8 instead of guessing. */
function decode(input: Buffer): { text: string } | { error: string } {
  if (input[0] === 0xff && input[1] === 0xfe)
    return { error: 'users CSV is UTF-16 encoded; save it as "CSV UTF-8" and upload it again' };
  if (input[0] === 0xfe && input[1] === 0xff)
    return { error: 'users CSV is UTF-16 encoded; save it as "CSV UTF-8" and upload it again' };
  if (input[0] === 0x50 && input[1] === 0x4b && input[2] === 0x03 && input[3] === 0x04) {
    return { error: 'users CSV looks like a spreadsheet workbook (.xlsx), not CSV; export it as "CSV UTF-8"' };
  }
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  try {
    return { text: decoder.decode(input) };
  } catch {
    // 0x0A never occurs inside a multi-byte UTF-8 sequence, so lines can be checked one by one.
    let line = 1;
    let start = 0;
    for (let i = 0; i <= input.length; i++) {
      if (i === input.length || input[i] === 0x0a) {
        try {
          decoder.decode(input.subarray(start, i));
        } catch {
          break;
        }
        line++;
        start = i + 1;
      }
    }
    return {
      error: `users CSV is not valid UTF-8 (first bad byte on line ${line}); save it as "CSV UTF-8" and upload it again`,
    };
  }
}

/** A header cell as a column name: "  Display Name " and "DISPLAY-NAME" both mean display_name. */
function normalizeHeader(cell: string) {
  return cell
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
}

/** The line a record starts on, from csv-parse's end line and the record's raw text (LF line ends). */
function startLine(endLine: number, raw: string) {
  // Raw text carries the blank lines skipped before the record and its own
  // line break; neither is part of the record's span.
  const body = raw.replace(/^\n+/, '').replace(/\n$/, '');
  return endLine - (body.match(/\n/g)?.length ?? 0);
}

function parseErrorMessage(err: CsvError) {
  // csv-parse 7 reports an opening quote inside a cell as INVALID_OPENING_QUOTE, without the CSV_ prefix.
  switch (err.code as string) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted cell is never closed (a " without its closing ")';
    case 'INVALID_OPENING_QUOTE':
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      return 'a quoted cell has text after its closing "; put the whole cell in quotes and write inner quotes twice ("")';
    default:
      return err.message;
  }
}

function cellProblem(column: Column, raw: string): string | null {
  // Carriage returns were turned into line breaks before parsing.
  if (/^[\t\n]/.test(raw)) {
    return `${column} starts with a ${raw.startsWith('\t') ? 'tab' : 'line break'}, which spreadsheets may run as a formula; remove it`;
  }
  const value = raw.trim();
  if (FORMULA_START.test(value)) {
    return `${column} starts with "${value[0]}", which spreadsheets run as a formula; remove the leading character`;
  }
  if (value.includes('\n')) return `${column} contains a line break`;
  if (CONTROL.test(value)) return `${column} contains a control character`;
  if (value.length > MAX_LENGTH[column]) return `${column} is longer than ${MAX_LENGTH[column]} characters`;
  return null;
}

export function parseUsersCsv(input: Buffer | string): UsersCsvResult {
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  if (size > MAX_CSV_BYTES) {
    return fileError(`users CSV is ${megabytes(size)}; the limit is 1 MB (${MAX_CSV_BYTES.toLocaleString('en-US')} bytes)`);
  }
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    const decoded = decode(input);
    if ('error' in decoded) return fileError(decoded.error);
    text = decoded.text;
  }
  // U+FFFD in text means someone upstream decoded non-UTF-8 bytes lossily.
  if (text.includes('\uFFFD')) {
    return fileError(
      'users CSV contains the replacement character \uFFFD: it was not UTF-8 when it was read; save it as "CSV UTF-8" and upload it again',
    );
  }
  if (text.includes('\0')) return fileError('users CSV contains NUL characters; is it really a text CSV file?');

  const errors: CsvRowError[] = [];
  // csv-parse counts CRLF inconsistently inside quoted cells; one kind of line end keeps line numbers right.
  text = text.replace(/\r\n?/g, '\n');
  const parsed = parse(text, {
    bom: true,
    info: true,
    raw: true,
    relax_column_count: true,
    // Spreadsheets write `Alice "Al" Liddell` unquoted; keep the quotes as text rather than fail the row.
    relax_quotes: true,
    // Only the right side: a leading tab is a formula-injection signal checked below.
    rtrim: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    on_skip: (err, raw) => {
      if (err) {
        const end = Number(err.lines);
        const line = raw !== undefined ? startLine(end, raw) : end;
        // One broken quote can trip the parser several times on the same row; the first says it all.
        if (!errors.some((e) => e.line === line)) errors.push({ line, message: parseErrorMessage(err) });
      }
      return undefined;
    },
  }) as unknown as { record: string[]; raw: string; info: { lines: number } }[];
  const records = parsed.map(({ record, raw, info }) => ({ cells: record, line: startLine(info.lines, raw) }));

  const [header, ...rows] = records;
  if (!header) {
    if (errors.length) return { users: [], errors, warnings: [] };
    return fileError('users CSV is empty: the first line must be a header with username and email');
  }

  // Header: which column each cell feeds, or null for cells that are dropped (other
  // columns, with a warning: spreadsheets carry phone numbers and departments along).
  const warnings: CsvWarning[] = [];
  let uncounted = 0;
  const dropped = (warning: CsvWarning) => {
    if (warnings.length < MAX_COLUMN_WARNINGS) warnings.push(warning);
    else uncounted++;
  };
  const columns: (Column | null)[] = [];
  const seen = new Set<Column>();
  header.cells.forEach((cell, i) => {
    const name = normalizeHeader(cell);
    if (name === '') {
      dropped({ line: header.line, message: `header cell ${i + 1} is empty: that column was dropped` });
      columns.push(null);
    } else if (!(CSV_COLUMNS as readonly string[]).includes(name)) {
      const shown = shortened(cell.trim());
      dropped({
        line: header.line,
        column: shown,
        message: `column "${shown}" was dropped: only ${CSV_COLUMNS.join(', ')} are used`,
      });
      columns.push(null);
    } else if (seen.has(name as Column)) {
      errors.push({ line: header.line, column: name, message: `column "${name}" appears twice in the header` });
      columns.push(null);
    } else {
      seen.add(name as Column);
      columns.push(name as Column);
    }
  });
  if (uncounted > 0) {
    warnings.push({
      line: header.line,
      message: `and ${uncounted} more ${uncounted === 1 ? 'column was' : 'columns were'} dropped`,
    });
  }
  const missing = REQUIRED_COLUMNS.filter((c) => !seen.has(c));
  if (missing.length) {
    for (const c of missing)
      errors.push({ line: header.line, column: c, message: `required column "${c}" is missing from the header` });
    // Without the column every row would repeat the same complaint.
    return { users: [], errors: sortByLine(errors), warnings };
  }

  const users: AppUser[] = [];
  const usernames = new Map<string, number>();
  let count = 0;
  for (const { cells, line } of rows) {
    // Spreadsheets export rows of empty cells for formatted-but-empty lines.
    if (cells.every((c) => c.trim() === '')) continue;
    count++;
    if (count > MAX_CSV_ROWS) {
      errors.push({ line, message: `too many rows: at most ${MAX_CSV_ROWS.toLocaleString('en-US')} users per file` });
      break;
    }
    const values: Partial<Record<Column, string>> = {};
    let rowOk = true;
    const rowError = (column: Column, message: string) => {
      errors.push({ line, column, message });
      rowOk = false;
    };
    // Cells first: a formula is reported even on a row that is broken otherwise.
    columns.forEach((column, i) => {
      if (!column) return;
      const raw = cells[i] ?? '';
      const problem = cellProblem(column, raw);
      if (problem) rowError(column, problem);
      else values[column] = raw.trim();
    });
    const extra = cells.slice(header.cells.length);
    if (extra.some((c) => c.trim() !== '')) {
      errors.push({
        line,
        message: `too many columns: the row has ${cells.length} cells, the header has ${header.cells.length}`,
      });
      continue;
    }

    const username = values.username ?? '';
    const email = values.email ?? '';
    if (!username) {
      if (!errorsFor(errors, line, 'username')) rowError('username', 'username is missing');
    } else if (!USERNAME.test(username)) {
      rowError('username', `username "${username}" is invalid (letters, digits and . _ - @ +, starting with a letter or digit)`);
    } else {
      const key = username.toLowerCase();
      const first = usernames.get(key);
      if (first !== undefined) rowError('username', `username "${username}" is already used on line ${first}`);
      else usernames.set(key, line);
    }
    if (!email) {
      if (!errorsFor(errors, line, 'email')) rowError('email', 'email is missing');
    } else if (!isEmail(email)) {
      rowError('email', `email "${email}" is not a valid email address`);
    }

    if (rowOk) {
      const user: AppUser = { username, email };
      if (values.role) user.role = values.role;
      if (values.display_name) user.displayName = values.display_name;
      users.push(user);
    }
  }
  return { users, errors: sortByLine(errors), warnings };
}

function errorsFor(errors: CsvRowError[], line: number, column: Column) {
  return errors.some((e) => e.line === line && e.column === column);
}

// Parse errors are collected while parsing, row errors afterwards; readers want file order.
function sortByLine(errors: CsvRowError[]) {
  return errors
    .map((e, i) => ({ e, i }))
    .sort((a, b) => (a.e.line ?? 0) - (b.e.line ?? 0) || a.i - b.i)
    .map(({ e }) => e);
}

function csvCell(value: string) {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The canonical form written to /opt/app/users.csv: fixed header, LF line ends, no BOM. */
export function usersToCsv(users: readonly AppUser[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const u of users) lines.push([u.username, u.email, u.role ?? '', u.displayName ?? ''].map(csvCell).join(','));
  return `${lines.join('\n')}\n`;
}
