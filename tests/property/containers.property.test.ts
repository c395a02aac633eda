import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { locateJsonError } from '../../src/api/jobForm/jsonErrorLocator.js';
import { readJobForm } from '../../src/api/jobForm/formToSpec.js';
import { containerListSchema } from '../../src/domain/containers.js';
import { containerListInput, withContainerDefaults } from './arbitraries/containers.js';
import { applyEdits, edits } from './arbitraries/mutate.js';
import { fieldKeys, namesField } from './support/namesField.js';

/**
 * The containers a user types as JSON on the form or posts to the API:
 * valid lists come back as given (plus the documented defaults), and any
 * other text or value is refused with messages that say which container and
 * which field, never with an exception.
 */

const RUNS = { numRuns: 200 };
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

const json = (v: unknown) => JSON.parse(JSON.stringify(v));

/** How a message must start to say which container it is about. */
function containerLabel(item: unknown, index: number) {
  const name = item && typeof item === 'object' ? (item as { name?: unknown }).name : undefined;
  return typeof name === 'string' && DNS_LABEL.test(name) ? `container "${name}": ` : `container #${index + 1}: `;
}

function expectIssuesNameTheirField(items: unknown) {
  let result: ReturnType<typeof containerListSchema.safeParse>;
  expect(() => {
    result = containerListSchema.safeParse(items);
  }).not.toThrow();
  if (result!.success) return;
  for (const issue of result!.error.issues) {
    const [index] = issue.path;
    if (typeof index !== 'number') {
      expect(issue.path).toEqual([]);
      expect(issue.message).toMatch(/^containers\b/);
      continue;
    }
    expect(Array.isArray(items) && index < items.length).toBe(true);
    expect(issue.message.startsWith(containerLabel((items as unknown[])[index], index))).toBe(true);
    // The field itself; its parents are in the path (an unknown healthcheck key says only its own name).
    const leaf = fieldKeys(issue.path).at(-1);
    if (leaf !== undefined) expect(namesField(issue.message, leaf), `"${issue.message}" names ${leaf}`).toBe(true);
  }
}

/** Text a person might type into the containers box: JSON with a slip somewhere, or anything at all. */
const typedText = fc.oneof(
  containerListInput().chain((list) =>
    fc
      .tuple(fc.nat(), fc.nat(3), fc.constantFrom('', ',', '"', '}', ']', "'", '\\', '\n', '\t', 'x', ':', '\u0001'))
      .map(([at, cut, insert]) => {
        const text = JSON.stringify(list, null, 2);
        const i = at % (text.length + 1);
        return text.slice(0, i) + insert + text.slice(i + cut);
      }),
  ),
  fc.json({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 60 }),
);

describe('containers (property)', () => {
  it('accepts any valid list and returns it as given, with the documented defaults filled in', () => {
    fc.assert(
      fc.property(containerListInput(), (list) => {
        const parsed = containerListSchema.safeParse(json(list));
        expect(parsed.error?.issues ?? []).toEqual([]);
        expect(parsed.data).toEqual(list.map(withContainerDefaults));
        // Stored specs are parsed again by the worker: the output is a fixpoint.
        expect(containerListSchema.parse(json(parsed.data))).toEqual(parsed.data);
      }),
      RUNS,
    );
  });

  it('reads the same list from the form, as typed or inside a {"containers": …} wrapper', async () => {
    await fc.assert(
      fc.asyncProperty(containerListInput(), fc.boolean(), fc.boolean(), async (list, wrapped, crlf) => {
        let text = JSON.stringify(wrapped ? { containers: list } : list, null, 2);
        if (crlf) text = text.replace(/\n/g, '\r\n');
        const form = await readJobForm({ containersJson: text });
        expect(form.early).toEqual([]);
        expect(containerListSchema.parse(form.input.containers)).toEqual(list.map(withContainerDefaults));
      }),
      RUNS,
    );
  });

  it('refuses edited lists without throwing, naming the container and the field of every problem', () => {
    fc.assert(
      fc.property(containerListInput(), edits, (list, changes) => {
        expectIssuesNameTheirField(applyEdits(list, changes));
      }),
      { numRuns: 400 },
    );
  });

  it('refuses an environment variable named __proto__ instead of dropping it', () => {
    fc.assert(
      fc.property(containerListInput(), fc.nat(), fc.string(), (list, pick, value) => {
        const items = json(list);
        const i = pick % items.length;
        items[i].environment = JSON.parse(`{"__proto__": ${JSON.stringify(value)}}`);
        const parsed = containerListSchema.safeParse(items);
        expect(parsed.success).toBe(false);
        expect(parsed.error?.issues.map((issue) => issue.path)).toContainEqual([i, 'environment', '__proto__']);
      }),
      { numRuns: 50 },
    );
  });

  it('never throws on any JSON value', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), expectIssuesNameTheirField), RUNS);
  });

  it('answers any typed text with containers or with a JSON error at a line and column inside the text', async () => {
    await fc.assert(
      fc.asyncProperty(typedText, async (text) => {
        const form = await readJobForm({ containersJson: text });
        const typed = text.replace(/\r\n?/g, '\n');
        let parsed: { ok: true; value: unknown } | { ok: false };
        try {
          parsed = { ok: true, value: JSON.parse(typed) };
        } catch {
          parsed = { ok: false };
        }
        const where = locateJsonError(typed);
        if (parsed.ok || typed.trim() === '') {
          if (typed.trim() !== '') expect(where).toBeNull();
          expect(form.early.filter((e) => e.field === 'containersJson')).toHaveLength(typed.trim() === '' ? 1 : 0);
          return;
        }
        expect(form.containersUnreadable).toBe(true);
        expect(form.early).toHaveLength(1);
        expect(form.early[0].field).toBe('containersJson');
        expect(where).not.toBeNull();
        const lines = typed.split('\n');
        expect(where!.line).toBeGreaterThanOrEqual(1);
        expect(where!.line).toBeLessThanOrEqual(lines.length);
        expect(where!.column).toBeGreaterThanOrEqual(1);
        expect(where!.column).toBeLessThanOrEqual(lines[where!.line - 1].length + 1);
        expect(form.early[0].message).toBe(`Containers JSON, line ${where!.line}, column ${where!.column}: ${where!.message}`);
      }),
      { numRuns: 300 },
    );
  });
});
