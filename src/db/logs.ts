import type { Db } from './database.js';
import { CompiledQuery } from 'kysely';
import { dialectOf, jsonObjectOf, lockKeyInTransaction, type DbDialect } from './dialect.js';
import type { JobLogRow } from './schema.js';

/** One output line as the runner saw it; `lineNo` is its position within the step attempt and stream. */
export interface LogLineInput {
  step: string;
  attempt: number;
  stream: string;
  lineNo: number;
  line: string;
  ts: string;
}

const originKey = (l: { step: string; attempt: number; stream: string; lineNo: number }) =>
  `${l.step}\u0000${l.attempt}\u0000${l.stream}\u0000${l.lineNo}`;

const COLUMNS = ['job_id', 'seq', 'ts', 'step', 'attempt', 'stream', 'line_no', 'line'] as const;

// Statements are sent as fixed SQL texts, a few sizes of multi-row insert
// (powers of two, a batch is cut into them): building a 500-row insert through
// the query builder cost more than SQLite's own work, and a fixed text is one a
// driver can keep prepared. 8 columns × 512 rows stays far below either
// database's limit on bound parameters.
const MAX_ROWS_PER_INSERT = 512;

/** The n-th bound parameter (from 1) in the dialect's notation. */
const param = (dialect: DbDialect, n: number) => (dialect === 'postgres' ? `$${n}` : '?');

const insertTexts = new Map<string, string>();

function insertText(dialect: DbDialect, rows: number): string {
  const key = `${dialect}:${rows}`;
  let text = insertTexts.get(key);
  if (!text) {
    const tuples: string[] = [];
    for (let r = 0; r < rows; r++) {
      const ps = COLUMNS.map((_, c) => param(dialect, r * COLUMNS.length + c + 1));
      tuples.push(`(${ps.join(',')})`);
    }
    text =
      `insert into job_logs (${COLUMNS.join(', ')}) values ${tuples.join(',')} ` +
      'on conflict (job_id, step, attempt, stream, line_no) do nothing';
    insertTexts.set(key, text);
  }
  return text;
}

const maxSeqText = (dialect: DbDialect) => `select max(seq) as seq from job_logs where job_id = ${param(dialect, 1)}`;

const storedOriginsText = (dialect: DbDialect) =>
  `select line_no from job_logs where job_id = ${param(dialect, 1)} and step = ${param(dialect, 2)} ` +
  `and attempt = ${param(dialect, 3)} and stream = ${param(dialect, 4)} ` +
  `and line_no >= ${param(dialect, 5)} and line_no <= ${param(dialect, 6)}`;

/**
 * Stores a batch in one short transaction, numbering new lines after the
 * job's current last `seq`. Lines already stored for the same origin (step,
 * attempt, stream, line_no) are skipped, so a redelivered batch never
 * duplicates. Returns the job's last `seq` afterwards (0 when it has none).
 */
export async function appendLogLines(db: Db, jobId: string, lines: readonly LogLineInput[]): Promise<number> {
  if (lines.length === 0) return maxLogSeq(db, jobId);
  const dialect = dialectOf(db);
  return db.transaction().execute(async (trx) => {
    // Two writers of one job's log must not both number from the same last seq.
    await lockKeyInTransaction(trx, `job_logs:${jobId}`);
    const last = await trx.executeQuery<{ seq: number | null }>(CompiledQuery.raw(maxSeqText(dialect), [jobId]));
    let seq = Number(last.rows[0]?.seq ?? 0);

    const { origins, ordered } = distinctOrigins(lines);
    const stored = new Set<string>();
    for (const o of origins) {
      const rows = await trx.executeQuery<{ line_no: number }>(
        CompiledQuery.raw(storedOriginsText(dialect), [jobId, o.step, o.attempt, o.stream, o.minLineNo, o.maxLineNo]),
      );
      for (const r of rows.rows) stored.add(originKey({ ...o, lineNo: Number(r.line_no) }));
    }
    // A sink's batch is new lines in order: then no line can repeat and keys need not be built.
    const check = stored.size > 0 || !ordered;

    const values: unknown[] = [];
    for (const l of lines) {
      if (check) {
        const key = originKey(l);
        if (stored.has(key)) continue;
        stored.add(key);
      }
      seq += 1;
      values.push(jobId, seq, l.ts, l.step, l.attempt, l.stream, l.lineNo, l.line);
    }
    const width = COLUMNS.length;
    let at = 0;
    let left = values.length / width;
    while (left > 0) {
      const rows = left >= MAX_ROWS_PER_INSERT ? MAX_ROWS_PER_INSERT : 2 ** Math.floor(Math.log2(left));
      await trx.executeQuery(CompiledQuery.raw(insertText(dialect, rows), values.slice(at * width, (at + rows) * width)));
      at += rows;
      left -= rows;
    }
    return seq;
  });
}

interface Origin {
  step: string;
  attempt: number;
  stream: string;
  minLineNo: number;
  maxLineNo: number;
}

/** The batch's origins with their line ranges, and whether each origin's line numbers only rise. */
function distinctOrigins(lines: readonly LogLineInput[]) {
  const byOrigin = new Map<string, Origin>();
  let ordered = true;
  for (const l of lines) {
    const key = `${l.step}\u0000${l.attempt}\u0000${l.stream}`;
    const o = byOrigin.get(key);
    if (!o) byOrigin.set(key, { step: l.step, attempt: l.attempt, stream: l.stream, minLineNo: l.lineNo, maxLineNo: l.lineNo });
    else {
      if (l.lineNo <= o.maxLineNo) ordered = false;
      o.minLineNo = Math.min(o.minLineNo, l.lineNo);
      o.maxLineNo = Math.max(o.maxLineNo, l.lineNo);
    }
  }
  return { origins: [...byOrigin.values()], ordered };
}

/** Lines after `afterSeq` in order: what a live log view polls for. */
export async function listLogLines(
  db: Db,
  jobId: string,
  opts: { afterSeq?: number; limit?: number } = {},
): Promise<JobLogRow[]> {
  return db
    .selectFrom('job_logs')
    .selectAll()
    .where('job_id', '=', jobId)
    .where('seq', '>', opts.afterSeq ?? 0)
    .orderBy('seq', 'asc')
    .limit(opts.limit ?? 1000)
    .execute();
}

/** A log line as the API shows it: JSON key → column, in the API's key order. */
const LINE_JSON_FIELDS = { seq: 'seq', ts: 'ts', step: 'step', attempt: 'attempt', stream: 'stream', line: 'line' };

export interface LogPageJson {
  /** The page's lines as a JSON array of the API's log line objects, oldest first. */
  linesJson: string;
  count: number;
  /** The last line's seq; null when the page is empty. */
  lastSeq: number | null;
  /** Whether the job had lines past this page when it was read. */
  hasMore: boolean;
}

/**
 * The lines after `afterSeq` as the API sends them, each written as JSON by
 * the database, and whether more lines follow (one row past the page tells,
 * in the same snapshot, without a count over a million lines).
 */
/**
 * One page of a job's log, at most `limit` lines and (past its first line) at
 * most `maxBytes` of JSON: 5,000 lines of 16 KB each would otherwise be 80 MB
 * built in one request. A page cut short says hasMore, and the next one
 * starts after its last line, so paging still visits every line once.
 */
export async function logPageJson(
  db: Db,
  jobId: string,
  opts: { afterSeq: number; limit: number; maxBytes?: number },
): Promise<LogPageJson> {
  const rows = await db
    .selectFrom('job_logs')
    .select(['seq', jsonObjectOf(db, LINE_JSON_FIELDS).as('json')])
    .where('job_id', '=', jobId)
    .where('seq', '>', opts.afterSeq)
    .orderBy('seq', 'asc')
    .limit(opts.limit + 1)
    .execute();
  const maxBytes = opts.maxBytes ?? Number.POSITIVE_INFINITY;
  let count = 0;
  let bytes = 2;
  const parts: string[] = [];
  while (count < Math.min(rows.length, opts.limit)) {
    const json = rows[count].json;
    const size = Buffer.byteLength(json) + 1;
    if (count > 0 && bytes + size > maxBytes) break;
    parts.push(json);
    bytes += size;
    count++;
  }
  return {
    linesJson: `[${parts.join(',')}]`,
    count,
    lastSeq: count > 0 ? rows[count - 1].seq : null,
    hasMore: rows.length > count,
  };
}

/** What a log view shows of a line. */
export type LogTailLine = Pick<JobLogRow, 'seq' | 'ts' | 'step' | 'stream' | 'line'>;

/** The instance's report lines of a job (its console's PROVISIONING- lines), oldest first: the job page's instance card. */
export async function instanceReportLines(db: Db, jobId: string, limit = 500): Promise<string[]> {
  const rows = await db
    .selectFrom('job_logs')
    .select('line')
    .where('job_id', '=', jobId)
    .where('stream', '=', 'instance')
    .where('line', 'like', '%PROVISIONING-%')
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map((r) => r.line);
}

/** The job's last `n` lines, oldest first, with only what a log view shows: the job page's first screen. */
export async function logTail(db: Db, jobId: string, n: number): Promise<LogTailLine[]> {
  const rows = await db
    .selectFrom('job_logs')
    .select(['seq', 'ts', 'step', 'stream', 'line'])
    .where('job_id', '=', jobId)
    .orderBy('seq', 'desc')
    .limit(n)
    .execute();
  return rows.reverse();
}

/** The job's last `n` lines, oldest first: the tail shown in errors and notifications. */
export async function lastLogLines(db: Db, jobId: string, n: number): Promise<JobLogRow[]> {
  const rows = await db.selectFrom('job_logs').selectAll().where('job_id', '=', jobId).orderBy('seq', 'desc').limit(n).execute();
  return rows.reverse();
}

export async function countLogLines(db: Db, jobId: string): Promise<number> {
  const row = await db
    .selectFrom('job_logs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('job_id', '=', jobId)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

export async function maxLogSeq(db: Db, jobId: string): Promise<number> {
  const row = await db
    .selectFrom('job_logs')
    .select((eb) => eb.fn.max<number | null>('seq').as('seq'))
    .where('job_id', '=', jobId)
    .executeTakeFirst();
  return row?.seq ?? 0;
}
