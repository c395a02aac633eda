import { describe, expect, it } from 'vitest';
import { ifNoneMatchHits, LogPageCache } from '../../src/api/logPageCache.js';

/** The settled log pages' memory: bounded by bytes, least recently used out first. */

const page = (n: number, bytes: number) => `{"n":${n},"pad":"${'x'.repeat(bytes)}"}`;

describe('LogPageCache', () => {
  it('keeps the bytes of the page and a strong ETag that follows its content', () => {
    const cache = new LogPageCache({ maxBytes: 1_000_000 });
    const a = cache.put('a', '{"lines":["é"]}');
    expect(new TextDecoder().decode(a.body)).toBe('{"lines":["é"]}');
    expect(a.etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(cache.get('a')).toBe(a);
    expect(cache.put('b', '{"lines":["e"]}').etag).not.toBe(a.etag);
    expect(cache.get('missing')).toBeUndefined();
  });

  it('stays within its byte budget, dropping the least recently used page', () => {
    const cache = new LogPageCache({ maxBytes: 40_000 });
    for (let i = 0; i < 4; i++) cache.put(`p${i}`, page(i, 9_000));
    expect(cache.size).toBe(4);
    cache.get('p0'); // p1 is now the least recently used
    cache.put('p4', page(4, 9_000));
    expect(cache.bytes).toBeLessThanOrEqual(40_000);
    expect(cache.get('p1')).toBeUndefined();
    for (const k of ['p0', 'p2', 'p3', 'p4']) expect(cache.get(k), k).toBeDefined();
    for (let i = 5; i < 50; i++) cache.put(`p${i}`, page(i, 9_000));
    expect(cache.bytes).toBeLessThanOrEqual(40_000);
    expect(cache.size).toBe(4);
  });

  it('does not keep a page too big for a quarter of the budget, but still makes its ETag', () => {
    const cache = new LogPageCache({ maxBytes: 40_000 });
    cache.put('small', page(1, 100));
    const big = cache.put('big', page(2, 20_000));
    expect(big.etag).toMatch(/^"/);
    expect(cache.get('big')).toBeUndefined();
    expect(cache.get('small')).toBeDefined();
  });

  it('counts a replaced page once', () => {
    const cache = new LogPageCache({ maxBytes: 40_000 });
    cache.put('a', page(1, 1_000));
    const once = cache.bytes;
    cache.put('a', page(1, 1_000));
    expect(cache.bytes).toBe(once);
    expect(cache.size).toBe(1);
  });

  it('keys pages by job, after and limit', () => {
    const keys = new Set([
      LogPageCache.key('j1', 11, 0),
      LogPageCache.key('j1', 1, 10),
      LogPageCache.key('j11', 1, 0),
      LogPageCache.key('j1', 110, 0),
    ]);
    expect(keys.size).toBe(4);
  });
});

describe('ifNoneMatchHits', () => {
  it('matches the tag itself, its weak form, a list holding it, and *', () => {
    const tag = '"abc"';
    expect(ifNoneMatchHits(tag, tag)).toBe(true);
    expect(ifNoneMatchHits('W/"abc"', tag)).toBe(true);
    expect(ifNoneMatchHits('"x", "abc" ,"y"', tag)).toBe(true);
    expect(ifNoneMatchHits('*', tag)).toBe(true);
    expect(ifNoneMatchHits(undefined, tag)).toBe(false);
    expect(ifNoneMatchHits('', tag)).toBe(false);
    expect(ifNoneMatchHits('"abcd"', tag)).toBe(false);
    expect(ifNoneMatchHits('abc', tag)).toBe(false);
  });
});
