import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';

/**
 * A TLS front for a plain Temporal frontend, as a real cluster's ingress is:
 * its own CA, a server certificate for one name, and (with `mtls`) a client
 * certificate required. Certificates come from openssl, made per test run.
 */

export interface TestPki {
  dir: string;
  caFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  serverName: string;
}

const CNF = {
  server: 'subjectAltName=DNS:temporal.test\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n',
  client: 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n',
};

export function makeTestPki(dir: string): TestPki {
  const run = (...args: string[]) => {
    const res = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`openssl ${args[0]} failed: ${res.stderr || res.error?.message}`);
  };
  const ca = ['-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2'];
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-subj',
    '/CN=test-ca',
    '-days',
    '2',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  for (const [name, cn] of [
    ['server', 'temporal.test'],
    ['client', 'provisioning-worker'],
  ] as const) {
    fs.writeFileSync(path.join(dir, `${name}.ext`), CNF[name]);
    run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    run('x509', '-req', '-in', `${name}.csr`, ...ca, '-out', `${name}.crt`, '-extfile', `${name}.ext`);
  }
  return {
    dir,
    caFile: path.join(dir, 'ca.crt'),
    clientCertFile: path.join(dir, 'client.crt'),
    clientKeyFile: path.join(dir, 'client.key'),
    serverName: 'temporal.test',
  };
}

export interface TlsProxy {
  address: string;
  /** The common names of the client certificates the proxy accepted. */
  clients: string[];
  close(): Promise<void>;
}

export async function startTlsProxy(pki: TestPki, upstream: string, opts: { mtls: boolean }): Promise<TlsProxy> {
  const [host, port] = [upstream.slice(0, upstream.lastIndexOf(':')), Number(upstream.slice(upstream.lastIndexOf(':') + 1))];
  const clients: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = tls.createServer(
    {
      key: fs.readFileSync(path.join(pki.dir, 'server.key')),
      cert: fs.readFileSync(path.join(pki.dir, 'server.crt')),
      ca: fs.readFileSync(pki.caFile),
      requestCert: opts.mtls,
      rejectUnauthorized: opts.mtls,
      ALPNProtocols: ['h2'],
    },
    (socket) => {
      const cn = socket.getPeerCertificate()?.subject?.CN;
      if (cn) clients.push(String(cn));
      const up = net.connect(port, host);
      for (const s of [socket, up]) {
        sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => sockets.delete(s));
      }
      socket.pipe(up).pipe(socket);
      up.on('close', () => socket.destroy());
      socket.on('close', () => up.destroy());
    },
  );
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    address,
    clients,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
