import { ConfigError, parseConfig } from '../../src/config.js';

/** What parseConfig refuses in `env`, one line per problem (none: it parses). */
export function problemsOf(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems;
  }
}
