/**
 * Where a JSON text first goes wrong, in words a person can act on. Used
 * after JSON.parse has failed, because V8's messages do not always carry a
 * position.
 */
export function locateJsonError(text: string): { line: number; column: number; message: string } | null {
  let i = 0;
  const show = (ch: string | undefined) => (ch === undefined ? 'the end of the text' : ch === '\n' ? 'a line break' : `"${ch}"`);
  const fail = (message: string, at = i): never => {
    throw Object.assign(new Error(message), { at });
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const str = () => {
    const start = i;
    i++;
    for (;;) {
      const ch = text[i];
      if (ch === undefined) fail('a string is never closed (missing ")', start);
      if (ch === '"') {
        i++;
        return;
      }
      if (ch === '\n') fail('a string runs past the end of the line (missing ", or write \\n for a line break)');
      if (ch < ' ') fail('a string contains a control character; escape it');
      if (ch === '\\') {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('\\u must be followed by 4 hex digits');
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) fail(`invalid escape \\${e ?? ''} in a string`);
        i += 2;
        continue;
      }
      i++;
    }
  };
  /** The rest of an object or a list after its opening bracket: both get the same words for their commas. */
  const items = (close: '}' | ']', what: string, item: () => void): void => {
    i++;
    ws();
    if (text[i] === close) {
      i++;
      return;
    }
    for (;;) {
      item();
      ws();
      if (text[i] === ',') {
        i++;
        ws();
        if (text[i] === close) fail(`a trailing comma before "${close}" is not allowed in JSON`);
        continue;
      }
      if (text[i] === close) {
        i++;
        return;
      }
      fail(`expected "," or "${close}" after ${what}, found ${show(text[i])}`);
    }
  };
  const property = (): void => {
    ws();
    if (text[i] === "'") fail('JSON needs double quotes (") around property names, not single quotes');
    if (text[i] !== '"') fail(`expected a "quoted" property name, found ${show(text[i])}`);
    str();
    ws();
    if (text[i] !== ':') fail(`expected ":" after the property name, found ${show(text[i])}`);
    i++;
    value();
  };
  const value = (): void => {
    ws();
    const ch = text[i];
    if (ch === undefined) fail('the JSON ends too early: a value, "]" or "}" is missing');
    if (ch === '{') {
      items('}', 'a property value', property);
      return;
    }
    if (ch === '[') {
      items(']', 'a list item', value);
      return;
    }
    if (ch === '"') {
      str();
      return;
    }
    if (ch === "'") fail('JSON needs double quotes (") around strings, not single quotes');
    const num = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    num.lastIndex = i;
    if (/[-0-9]/.test(ch) && num.test(text)) {
      i = num.lastIndex;
      return;
    }
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return;
      }
    }
    fail(`unexpected ${show(ch)}`);
  };
  try {
    value();
    ws();
    if (i < text.length) fail(`unexpected ${show(text[i])} after the end of the list`);
    return null;
  } catch (err) {
    const at = (err as { at?: number }).at ?? i;
    const before = text.slice(0, at);
    const line = before.split('\n').length;
    const column = at - (before.lastIndexOf('\n') + 1) + 1;
    return { line, column, message: (err as Error).message };
  }
}
