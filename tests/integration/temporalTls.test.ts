import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { NativeConnection } from '@temporalio/worker';
import { ConfigError, parseConfig, type Config } from '../../src/config.js';
import { checkTemporal, createTemporalClient, temporalConnectionOptions } from '../../src/temporal/connection.js';
import { ROOT } from '../support/processes.js';
import { tempDir } from '../support/tempDb.js';
import { makeTestPki, startTlsProxy, type TestPki, type TlsProxy } from '../support/tlsProxy.js';
import { TEST_SECRET_KEY } from '../support/worker.js';

/**
 * A Temporal cluster that needs TLS and a client certificate: the run's dev
 * server behind a TLS front with its own CA. The web's client and the
 * worker's native connection both get in with the settings, and not without
 * them.
 */

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

function config(env: Record<string, string>): Config {
  return parseConfig({ SECRET_KEY: TEST_SECRET_KEY, ...env }, ROOT);
}

function problemsOf(env: Record<string, string>): string[] {
  try {
    config(env);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems;
  }
}

describe.skipIf(!hasOpenssl)('Temporal over TLS and mTLS', () => {
  let pki: TestPki;
  let proxy: TlsProxy;

  beforeAll(async () => {
    pki = makeTestPki(tempDir('prov-temporal-tls-'));
    proxy = await startTlsProxy(pki, inject('temporalAddress'), { mtls: true });
  }, 60_000);
  afterAll(async () => {
    await proxy?.close();
    if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  const mtls = () => ({
    TEMPORAL_ADDRESS: proxy.address,
    TEMPORAL_TLS_CA_FILE: pki.caFile,
    TEMPORAL_TLS_CERT_FILE: pki.clientCertFile,
    TEMPORAL_TLS_KEY_FILE: pki.clientKeyFile,
    TEMPORAL_TLS_SERVER_NAME: pki.serverName,
  });

  it("connects the web's client and the worker's connection with the cluster's CA, a client certificate and the server's name", async () => {
    const settings = config(mtls());
    const { client, connection } = createTemporalClient(settings);
    try {
      await checkTemporal(client, 10_000);
    } finally {
      await connection.close();
    }
    const native = await NativeConnection.connect(temporalConnectionOptions(settings));
    await native.close();
    expect(proxy.clients.filter((cn) => cn === 'provisioning-worker').length).toBeGreaterThanOrEqual(2);
  });

  it('is refused without the client certificate, or when the name does not match the certificate', async () => {
    const { TEMPORAL_TLS_CERT_FILE: _c, TEMPORAL_TLS_KEY_FILE: _k, ...noCert } = mtls();
    const { TEMPORAL_TLS_SERVER_NAME: _n, ...noName } = mtls();
    for (const env of [noCert, noName]) {
      const settings = config(env);
      const { client, connection } = createTemporalClient(settings);
      await expect(checkTemporal(client, 3_000), JSON.stringify(Object.keys(env))).rejects.toThrow();
      await connection.close();
      await expect(NativeConnection.connect(temporalConnectionOptions(settings))).rejects.toThrow();
    }
  });

  it('checks the settings at start, naming the variable', () => {
    expect(problemsOf({ ...mtls(), TEMPORAL_TLS_CA_FILE: '/nonexistent/ca.pem' })).toEqual([
      'TEMPORAL_TLS_CA_FILE: cannot read /nonexistent/ca.pem (ENOENT)',
    ]);
    expect(problemsOf({ ...mtls(), TEMPORAL_TLS_KEY_FILE: pki.caFile })).toEqual([
      `TEMPORAL_TLS_KEY_FILE: ${pki.caFile} holds no PEM -----BEGIN [A-Z ]*PRIVATE KEY----- block`,
    ]);
    const { TEMPORAL_TLS_KEY_FILE: _k, ...certOnly } = mtls();
    expect(problemsOf(certOnly)).toEqual(['TEMPORAL_TLS_CERT_FILE and TEMPORAL_TLS_KEY_FILE: give both (mTLS) or neither']);
    expect(problemsOf({ TEMPORAL_API_KEY: 'cloud-key' })).toEqual([
      'TEMPORAL_ADDRESS: required with TEMPORAL_TLS* or TEMPORAL_API_KEY (the embedded dev server speaks plain gRPC)',
    ]);
  });

  it('sends an API key over TLS (Temporal Cloud), and plain gRPC when nothing is set', () => {
    const cloud = config({
      TEMPORAL_ADDRESS: 'my-ns.a1b2c.tmprl.cloud:7233',
      TEMPORAL_API_KEY: 'cloud-key',
      TEMPORAL_NAMESPACE: 'my-ns.a1b2c',
    });
    expect(temporalConnectionOptions(cloud)).toEqual({ address: 'my-ns.a1b2c.tmprl.cloud:7233', tls: {}, apiKey: 'cloud-key' });
    expect(temporalConnectionOptions(config({ TEMPORAL_ADDRESS: 'temporal:7233' }))).toEqual({ address: 'temporal:7233' });
  });
});

if (!hasOpenssl) console.warn('Temporal TLS tests skipped: no openssl on PATH');
