import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/**
 * How the service reaches a Temporal cluster that is not the embedded dev
 * server: TLS with the cluster's CA, mTLS with a client certificate, a server
 * name override, or an API key (Temporal Cloud). Part of the one
 * configuration (config.ts); the files are read and checked at start, so a
 * wrong path stops the process with its name rather than fail at first call.
 */

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no', '']).transform((v) => v === 'true' || v === '1' || v === 'yes');

export const temporalConnectionShape = {
  /** TLS to the Temporal frontend (implied by any setting below). */
  TEMPORAL_TLS: bool.default(false),
  /** PEM: the CA that signed the server's certificate, when the system's roots do not. */
  TEMPORAL_TLS_CA_FILE: z.string().min(1).optional(),
  /** PEM: this service's client certificate and its key, for mTLS (both or neither). */
  TEMPORAL_TLS_CERT_FILE: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY_FILE: z.string().min(1).optional(),
  /** The name the server's certificate must carry, when it is not the host in TEMPORAL_ADDRESS. */
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  /** An API key (Temporal Cloud): sent as a bearer token on every call, over TLS. */
  TEMPORAL_API_KEY: z.string().min(1).optional(),
};

type Raw = z.infer<z.ZodObject<typeof temporalConnectionShape>> & { TEMPORAL_ADDRESS?: string };

export interface TemporalTls {
  serverNameOverride?: string;
  serverRootCACertificate?: Buffer;
  clientCertPair?: { crt: Buffer; key: Buffer };
}

export interface TemporalConnectionSettings {
  /** null: plain gRPC (the embedded dev server, a cluster on a private network). */
  tls: TemporalTls | null;
  apiKey?: string;
}

/** The connection settings, or the problems that stop the start (each naming its variable). */
export function temporalConnectionSettings(raw: Raw, cwd: string, problems: string[]): TemporalConnectionSettings {
  const pem = (name: keyof Raw, kind: RegExp): Buffer | undefined => {
    const file = raw[name] as string | undefined;
    if (!file) return undefined;
    const full = path.resolve(cwd, file);
    let text: Buffer;
    try {
      text = fs.readFileSync(full);
    } catch (err) {
      problems.push(`${name}: cannot read ${full} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      return undefined;
    }
    if (!kind.test(text.toString('latin1')))
      problems.push(`${name}: ${full} holds no PEM ${kind.source.replace(/\\/g, '')} block`);
    return text;
  };
  const ca = pem('TEMPORAL_TLS_CA_FILE', /-----BEGIN CERTIFICATE-----/);
  const crt = pem('TEMPORAL_TLS_CERT_FILE', /-----BEGIN CERTIFICATE-----/);
  const key = pem('TEMPORAL_TLS_KEY_FILE', /-----BEGIN [A-Z ]*PRIVATE KEY-----/);
  if (Boolean(raw.TEMPORAL_TLS_CERT_FILE) !== Boolean(raw.TEMPORAL_TLS_KEY_FILE)) {
    problems.push('TEMPORAL_TLS_CERT_FILE and TEMPORAL_TLS_KEY_FILE: give both (mTLS) or neither');
  }
  const wantsTls =
    raw.TEMPORAL_TLS ||
    Boolean(raw.TEMPORAL_TLS_CA_FILE || raw.TEMPORAL_TLS_CERT_FILE || raw.TEMPORAL_TLS_SERVER_NAME || raw.TEMPORAL_API_KEY);
  if (wantsTls && !raw.TEMPORAL_ADDRESS) {
    problems.push(
      'TEMPORAL_ADDRESS: required with TEMPORAL_TLS* or TEMPORAL_API_KEY (the embedded dev server speaks plain gRPC)',
    );
  }
  if (!wantsTls) return { tls: null };
  return {
    tls: {
      ...(raw.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: raw.TEMPORAL_TLS_SERVER_NAME } : {}),
      ...(ca ? { serverRootCACertificate: ca } : {}),
      ...(crt && key ? { clientCertPair: { crt, key } } : {}),
    },
    ...(raw.TEMPORAL_API_KEY ? { apiKey: raw.TEMPORAL_API_KEY } : {}),
  };
}
