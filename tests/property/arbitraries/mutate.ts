import fc from 'fast-check';

/**
 * Small edits of a valid JSON document, the way a hand-edited spec goes
 * wrong: a field removed, retyped or misspelt, text with a lone surrogate
 * or U+FFFD, or nesting deeper than any spec needs. The edited place is a
 * path to a node of the original.
 */

type Json = unknown;
type Path = (string | number)[];

function paths(value: Json, at: Path = []): Path[] {
  const out: Path[] = [at];
  const children: [string | number, Json][] = Array.isArray(value)
    ? value.map((v, i) => [i, v])
    : value && typeof value === 'object'
      ? Object.entries(value)
      : [];
  for (const [key, child] of children) out.push(...paths(child, [...at, key]));
  return out;
}

function clone(value: Json): Json {
  return JSON.parse(JSON.stringify(value));
}

/** An own property even for "__proto__", as JSON.parse makes it. */
function setOwn(target: object, key: string | number, value: Json) {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function parentOf(root: Json, path: Path): Record<string | number, Json> | undefined {
  let node = root as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>;
  return node;
}

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const odd = fc.oneof(
  loneSurrogate.map((s) => `x${s}`),
  fc.constant('bad\uFFFDbytes'),
  fc.string({ unit: 'binary', maxLength: 8 }),
);
const deep = fc.integer({ min: 30, max: 40 }).map((n) => {
  let v: Json = 'leaf';
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { k: v };
  return v;
});

export type Edit =
  | { op: 'delete' | 'retype'; pick: number; value: Json }
  | { op: 'unknownKey'; pick: number; key: string; value: Json };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), pick: fc.nat(), value: fc.constant(null) }),
  fc.record({
    op: fc.constant('retype' as const),
    pick: fc.nat(),
    value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), odd, deep),
  }),
  fc.record({
    op: fc.constant('unknownKey' as const),
    pick: fc.nat(),
    key: fc.oneof(fc.string({ maxLength: 6 }), loneSurrogate, fc.constantFrom('__proto__', 'constructor')),
    value: fc.jsonValue({ maxDepth: 1 }),
  }),
);

/** The document after the edits, each applied to a node the previous edit left. */
export function applyEdits(doc: Json, edits: readonly Edit[]): Json {
  let root = clone(doc);
  for (const e of edits) {
    const all = paths(root);
    const path = all[e.pick % all.length];
    if (e.op === 'unknownKey') {
      const target = path.reduce<Json>((node, key) => (node as Record<string | number, Json>)[key], root);
      if (target && typeof target === 'object' && !Array.isArray(target)) {
        setOwn(target, e.key, e.value);
      }
      continue;
    }
    if (path.length === 0) {
      root = e.op === 'retype' ? e.value : undefined;
      continue;
    }
    const parent = parentOf(root, path)!;
    const key = path[path.length - 1];
    if (e.op === 'retype') setOwn(parent, key, e.value);
    else if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  }
  return root;
}

export const edits = fc.array(edit, { minLength: 1, maxLength: 3 });
