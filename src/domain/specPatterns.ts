/**
 * Regular expressions for the OpenAPI document (see documentedSchema.ts): each
 * says what one check of the job spec accepts, where that check is code
 * rather than a regex (a CIDR's host bits, a port's range, Docker's image
 * reference grammar, a volume's forbidden paths). Each is tested against the
 * check it states (tests/unit/specPatterns.test.ts).
 */

/** What String.prototype.trim removes (ECMA-262 WhiteSpace and LineTerminator), for a character class. */
const JS_SPACES = String.raw`\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff`;

/** Text matching `core` once trimmed (zod's .trim() before its checks). */
export const trimmedTo = (core: string) => `^[${JS_SPACES}]*(?:${core})[${JS_SPACES}]*$`;

/** Text with something other than white space in it (a search, not anchored). */
export const NOT_BLANK = `[^${JS_SPACES}]`;

/** Any text but U+FFFD, which a spec refuses anywhere (jobSpec.ts, textProblems): it was not UTF-8 when read. */
export const TEXT = String.raw`^[^\ufffd]*$`;
/** Text with something other than white space in it. */
export const NON_BLANK_TEXT = String.raw`^[^\ufffd]*[^\ufffd${JS_SPACES}][^\ufffd]*$`;
/** Text of at most `max` characters. */
export const textUpTo = (max: number) => String.raw`^[^\ufffd]{0,${max}}$`;
/** Text of at least `min` characters. */
export const textFrom = (min: number) => String.raw`^[^\ufffd]{${min},}$`;
/** An environment variable's value: no U+FFFD and no NUL either. */
export const ENV_VALUE = String.raw`^[^\u0000\ufffd]*$`;

/**
 * An email address after trimming, as z.email() takes it, at most 254
 * characters (white space around it is trimmed away): two patterns, both to
 * be matched, as one with a lookahead leaves generators guessing.
 */
export function emailPatterns(email: RegExp): { pattern: string }[] {
  const core = email.source.replace(/^\^/, '').replace(/\$$/, '');
  return [{ pattern: trimmedTo(core) }, { pattern: trimmedTo(`[^${JS_SPACES}]{1,254}`) }];
}

// --- IPv4 networks -------------------------------------------------------------------------------

/** Every way the CIDR check's `\d{1,3}` writes `value` (leading zeros included). */
function octetSpellings(value: number): string {
  const digits = String(value);
  const pad = 3 - digits.length;
  return pad === 0 ? digits : `0{0,${pad}}${digits}`;
}

const ANY_OCTET = '(?:[0-9]{1,2}|[01][0-9]{2}|2[0-4][0-9]|25[0-5])';

/** An octet with its first `bits` bits in the network part and the rest zero. */
function networkOctet(bits: number): string {
  if (bits === 8) return ANY_OCTET;
  const step = 2 ** (8 - bits);
  const values: string[] = [];
  for (let v = 0; v < 256; v += step) values.push(octetSpellings(v));
  return values.length === 1 ? values[0] : `(?:${values.join('|')})`;
}

/**
 * An IPv4 CIDR whose address is its network's (no host bits set), as
 * jobSpec.ts's `cidr` takes it: four 1-3 digit octets up to 255, a 1-2 digit
 * prefix up to 32. One alternative per prefix length.
 */
export function ipv4NetworkPattern(): string {
  const alternatives: string[] = [];
  for (let prefix = 0; prefix <= 32; prefix++) {
    const octets = [0, 1, 2, 3].map((i) => networkOctet(Math.max(0, Math.min(8, prefix - 8 * i))));
    const spelledPrefix = prefix < 10 ? `0?${prefix}` : String(prefix);
    alternatives.push(`${octets.join('\\.')}/${spelledPrefix}`);
  }
  return `^(?:${alternatives.join('|')})$`;
}

// --- containers ----------------------------------------------------------------------------------

/** 1-5 digits (leading zeros allowed) for a port from 1 to 65535. */
const PORT_NUMBER =
  '(?:0{0,4}[1-9]|0{0,3}[1-9][0-9]|0{0,2}[1-9][0-9]{2}|0?[1-9][0-9]{3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])';
/** A port mapping "host:container" or "host:container/udp". */
export const PORT_MAPPING = `^${PORT_NUMBER}:${PORT_NUMBER}(?:/(?:tcp|udp))?$`;

const HOST_LABEL = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?';
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
/** A first component without a dot: with one (or a colon) it is a registry host. */
const FIRST_COMPONENT = '[a-z0-9]+(?:(?:_|__|-+)[a-z0-9]+)*';
const REGISTRY = `${HOST_LABEL}(?:\\.${HOST_LABEL})+(?::[0-9]{1,5})?|${HOST_LABEL}:[0-9]{1,5}`;
/**
 * A Docker image reference as containers.ts's imageProblem takes it:
 * [registry/]path[:tag][@sha256:digest], lowercase path components (at most
 * 255 characters: the schema's maxLength).
 */
export const IMAGE_REFERENCE =
  `^(?:${PATH_COMPONENT}|(?:${REGISTRY}|${FIRST_COMPONENT})(?:/${PATH_COMPONENT})+)` +
  '(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$';

/** A path segment other than "..", of the characters volume paths may use. */
const SEGMENT = '(?:\\.?|\\.{3,}|[A-Za-z0-9._@%+=,~-]*[A-Za-z0-9_@%+=,~-][A-Za-z0-9._@%+=,~-]*)';
const ABSOLUTE_PATH = `/${SEGMENT}(?:/${SEGMENT})*`;
/**
 * A bind mount "/host:/container[:ro|rw]" as containers.ts's volume check
 * takes it: no ".." segments, and neither the service's folder /opt/app (nor
 * a parent of it) as the host side nor its users file as the target.
 */
export const VOLUME =
  `^(?!(?:/opt(?:/app(?:/users\\.csv)?)?)?/*:)${ABSOLUTE_PATH}` +
  `:(?!/opt/app/users\\.csv/*(?::|$))${ABSOLUTE_PATH}(?::(?:ro|rw))?$`;

// --- the users CSV -------------------------------------------------------------------------------

const CSV_USERNAME = '[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}';
// WHATWG's characters, with no first character a spreadsheet would run as a formula, at most 254 in all.
const CSV_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const CSV_EMAIL = `[A-Za-z0-9.!#$%&'*/?^_\`{|}~][A-Za-z0-9.!#$%&'*+/=?^_\`{|}~-]{0,61}@${CSV_LABEL}(?:\\.${CSV_LABEL}){1,2}`;
const CSV_ROLE = '(?:[A-Za-z0-9_][A-Za-z0-9_ .-]{0,63})?';
const CSV_DISPLAY_NAME = "(?:[A-Za-z0-9_][A-Za-z0-9_ .'-]{0,127})?";
const CSV_CANONICAL = `username,email,role,display_name\\n(?:${CSV_USERNAME},${CSV_EMAIL},${CSV_ROLE},${CSV_DISPLAY_NAME}\\n)*`;
/**
 * The users CSV in its canonical form (what the service stores and the
 * instance receives): the header, then one line per user. The parser takes
 * more (a BOM, CRLF, quoted cells, columns in any order, other columns, which
 * it drops with a warning).
 */
export const USERS_CSV = `^${CSV_CANONICAL}$`;
/** The users CSV where only white space means "no users" (the spec's and a change's field). */
export const USERS_CSV_OR_BLANK = `^(?:[${JS_SPACES}]*|${CSV_CANONICAL})$`;
