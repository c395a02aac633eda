import { describe, expect, it } from 'vitest';
import { formatShortTime, formatTime, httpUrl } from '../../src/api/views/format.js';

/** Times on the pages: the same text for the same stored value, however often and in whatever order it is shown. */

describe('formatTime', () => {
  it('shows stored ISO times in UTC to the second, and anything unparseable as it is', () => {
    expect(formatTime('2025-01-02T13:04:05.678Z')).toBe('2025-01-02 13:04:05 UTC');
    expect(formatTime('2025-01-02T15:04:05+02:00')).toBe('2025-01-02 13:04:05 UTC');
    expect(formatShortTime('2025-01-02T13:04:05.678Z')).toBe('2025-01-02 13:04');
    expect(formatTime('not a time')).toBe('not a time');
    expect(formatShortTime('not a time')).toBe('not a time');
    expect(formatTime(null)).toBe('');
    expect(formatTime(undefined)).toBe('');
    expect(formatTime('')).toBe('');
  });

  it('gives the same answers again after many distinct times have been shown', () => {
    const first = formatTime('2025-06-30T23:59:59.999Z');
    for (let i = 0; i < 12_000; i++) {
      const iso = new Date(Date.UTC(2020, 0, 1) + i * 61_000).toISOString();
      expect(formatTime(iso)).toBe(`${iso.slice(0, 19).replace('T', ' ')} UTC`);
    }
    expect(formatTime('2025-06-30T23:59:59.999Z')).toBe(first);
    expect(first).toBe('2025-06-30 23:59:59 UTC');
    expect(formatTime('still not a time')).toBe('still not a time');
  });
});

describe('httpUrl', () => {
  it('links absolute http(s) URLs only', () => {
    expect(httpUrl('http://203.0.113.7/')).toBe('http://203.0.113.7/');
    expect(httpUrl('HTTPS://Example.com:8443/a b')).toBe('https://example.com:8443/a%20b');
    expect(httpUrl('http://ec2-1-2-3-4.compute-1.amazonaws.com')).toBe('http://ec2-1-2-3-4.compute-1.amazonaws.com/');
    for (const v of [
      'i-0123456789abcdef0',
      '203.0.113.7',
      'javascript:alert(1)',
      ' http://x.test/',
      'http:/x.test',
      'ftp://x.test/',
      'http://',
      '',
      null,
      42,
      {},
    ]) {
      expect(httpUrl(v), String(v)).toBeNull();
    }
  });
});
