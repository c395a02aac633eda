/**
 * The text of a raw job spec (or change), checked before its schema looks at
 * it: strings that are not Unicode, and nesting no spec needs.
 */

/** Deeper than any valid spec (containers[0].environment.NAME is 4 levels). */
export const MAX_SPEC_DEPTH = 32;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function stringProblem(value: string): string | null {
  const where = (index: number) => {
    const line = value.slice(0, index).split('\n').length;
    return value.includes('\n') ? ` (line ${line})` : '';
  };
  const lone = LONE_SURROGATE.exec(value);
  if (lone) {
    const code = lone[0].charCodeAt(0).toString(16).toUpperCase();
    return `contains a lone UTF-16 surrogate (\\u${code})${where(lone.index)}, which is not valid Unicode text`;
  }
  const replaced = value.indexOf('\uFFFD');
  if (replaced >= 0) {
    return `contains the replacement character U+FFFD${where(replaced)}: the text was not valid UTF-8 when it was read; send UTF-8`;
  }
  return null;
}

/**
 * Every string (and object key) of a raw spec that is not valid Unicode: lone
 * surrogates arrive through JSON escapes ("\ud800"), U+FFFD through bytes
 * that were not UTF-8. Both would reach the instance's files garbled. Walks
 * at most MAX_SPEC_DEPTH levels, so hostile nesting costs nothing.
 */
export function textProblems(value: unknown, path: PropertyKey[] = []): { path: PropertyKey[]; message: string }[] {
  const at = (p: PropertyKey[]) => formatIssuePath(p) || 'the job spec';
  if (typeof value === 'string') {
    const problem = stringProblem(value);
    return problem ? [{ path, message: `${at(path)} ${problem}` }] : [];
  }
  if (value === null || typeof value !== 'object') return [];
  if (path.length >= MAX_SPEC_DEPTH) {
    return [{ path, message: `${at(path)} is nested more than ${MAX_SPEC_DEPTH} levels deep; no job spec needs that` }];
  }
  const out: { path: PropertyKey[]; message: string }[] = [];
  const entries: [PropertyKey, unknown][] = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  for (const [key, item] of entries) {
    if (typeof key === 'string') {
      const problem = stringProblem(key);
      if (problem) out.push({ path: [...path, key], message: `the field name ${JSON.stringify(key)} at ${at(path)} ${problem}` });
    }
    out.push(...textProblems(item, [...path, key]));
    if (out.length >= 20) break;
  }
  return out;
}

/** ["containers", 0, "ports", 1] → "containers[0].ports[1]". */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}
