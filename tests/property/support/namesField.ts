/**
 * Whether an error message names a field: by its key, its singular ("ports"
 * → "port …"), or the key as JSON writes it (a key with a lone surrogate).
 * Messages reach API clients as they are, and not every client shows paths.
 */
export function namesField(message: string, key: string): boolean {
  return [key, key.replace(/s$/, ''), JSON.stringify(key).slice(1, -1)].some((form) => message.includes(form));
}

/** The string keys of an issue path: the fields it passes through, list indexes left out. */
export function fieldKeys(path: readonly PropertyKey[]): string[] {
  return path.filter((k): k is string => typeof k === 'string');
}
