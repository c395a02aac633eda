import crypto from 'node:crypto';

/**
 * Log pages that can never change again, kept ready to send. Log lines are
 * append-only and numbered by a per-job `seq` that only grows, so once a page
 * has all its `limit` lines and more lines follow it (or the job is final and
 * writes no more), its bytes are fixed for good. Such a page is worth
 * keeping: readers of a long log ask for the same pages over and over.
 * Pages that may still grow are never put here (the caller decides).
 *
 * A least-recently-used map bounded by bytes, not entries, because a page is
 * anything from a few bytes to several megabytes.
 */

export interface SettledLogPage {
  body: Uint8Array<ArrayBuffer>;
  /** Strong validator: a digest of the body. */
  etag: string;
}

const utf8 = new TextEncoder();

/** Bookkeeping per entry beyond the body, so many tiny pages still count. */
const ENTRY_OVERHEAD_BYTES = 256;

export class LogPageCache {
  readonly #maxBytes: number;
  readonly #maxEntryBytes: number;
  readonly #pages = new Map<string, SettledLogPage>();
  #bytes = 0;

  constructor(opts: { maxBytes: number }) {
    this.#maxBytes = opts.maxBytes;
    // One huge page must not flush everything else out.
    this.#maxEntryBytes = Math.floor(opts.maxBytes / 4);
  }

  static key(jobId: string, afterSeq: number, limit: number): string {
    return `${jobId}\u0000${afterSeq}\u0000${limit}`;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#pages.size;
  }

  get(key: string): SettledLogPage | undefined {
    const page = this.#pages.get(key);
    if (page) {
      // Map keeps insertion order: re-inserting makes this the most recently used.
      this.#pages.delete(key);
      this.#pages.set(key, page);
    }
    return page;
  }

  /** Makes the page's bytes and ETag; keeps them when they fit. */
  put(key: string, json: string): SettledLogPage {
    const body = utf8.encode(json);
    const page: SettledLogPage = {
      body,
      etag: `"${crypto.createHash('sha1').update(body).digest('base64url')}"`,
    };
    const size = sizeOf(key, page);
    if (size > this.#maxEntryBytes) return page;
    const old = this.#pages.get(key);
    if (old) {
      this.#pages.delete(key);
      this.#bytes -= sizeOf(key, old);
    }
    this.#pages.set(key, page);
    this.#bytes += size;
    for (const [oldest, p] of this.#pages) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#pages.delete(oldest);
      this.#bytes -= sizeOf(oldest, p);
    }
    return page;
  }
}

function sizeOf(key: string, page: SettledLogPage): number {
  return page.body.byteLength + key.length * 2 + ENTRY_OVERHEAD_BYTES;
}

/**
 * Whether an If-None-Match header names `etag` (weak comparison, as RFC 9110
 * asks for If-None-Match): then a 304 answers the request.
 */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}
