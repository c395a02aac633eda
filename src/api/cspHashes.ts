import crypto from 'node:crypto';

function decodeHtmlEntities(s: string): string {
  const named: Record<string, string> = { quot: '"', apos: "'", amp: '&', lt: '<', gt: '>', nbsp: '\u00a0' };
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (all, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) && code <= 0x10ffff ? String.fromCodePoint(code) : all;
    }
    return named[e.toLowerCase()] ?? all;
  });
}

/**
 * CSP hashes of the inline styles of an email we frame (emails carry their
 * styles inline). With them the page's policy allows exactly those styles and
 * nothing else; the frame's sandbox keeps scripts out regardless.
 */
export function inlineStyleHashes(html: string, max = 150): string[] {
  const values = new Set<string>();
  // The browser hashes an attribute's value after decoding its entities, so the hash must too.
  for (const m of html.matchAll(/\sstyle\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)) values.add(decodeHtmlEntities(m[1] ?? m[2] ?? ''));
  for (const m of html.matchAll(/<style\b[^>]*>([\s\S]*?)<\/style>/gi)) values.add(m[1]);
  return [...values].slice(0, max).map((v) => `sha256-${crypto.createHash('sha256').update(v, 'utf8').digest('base64')}`);
}
