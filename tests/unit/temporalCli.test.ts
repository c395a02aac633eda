import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cachedCliPath,
  ensureTemporalCli,
  findTemporalCli,
  TEMPORAL_CLI_MODULE,
  TEMPORAL_CLI_VERSION,
} from '../../src/temporal/cli.js';

/**
 * How `npm start` and `npm test` find or install the Temporal CLI on a
 * machine: every path runs against real files and processes in a scratch
 * HOME, with stand-in `go` and `temporal` scripts and a local HTTP server in
 * place of the download site, so no case depends on this machine's network.
 */

const dirs: string[] = [];
const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function scratch(): { root: string; bin: string; env: NodeJS.ProcessEnv } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-lookup-'));
  dirs.push(root);
  const bin = path.join(root, 'bin');
  fs.mkdirSync(bin);
  // Only our bin and the system's basic tools: no real go or temporal from the developer's PATH.
  return { root, bin, env: { PATH: `${bin}:/usr/bin:/bin`, XDG_CACHE_HOME: path.join(root, 'cache'), HOME: root } };
}

function script(file: string, body: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

const noGo = { goInstallPaths: [] as string[] };
const logs: string[] = [];
const log = (m: string) => void logs.push(m);

describe('Temporal CLI lookup', () => {
  it('prefers TEMPORAL_CLI_PATH, then PATH, then the cached build', () => {
    const { root, bin, env } = scratch();
    const cached = script(cachedCliPath(env), 'echo cached');
    expect(findTemporalCli(env)).toEqual({ path: cached, source: 'cache' });
    const onPath = script(path.join(bin, 'temporal'), 'echo path');
    expect(findTemporalCli(env)).toEqual({ path: onPath, source: 'PATH' });
    const explicit = script(path.join(root, 'elsewhere', 'temporal'), 'echo explicit');
    expect(findTemporalCli({ ...env, TEMPORAL_CLI_PATH: explicit })).toEqual({ path: explicit, source: 'TEMPORAL_CLI_PATH' });
  });

  it('names TEMPORAL_CLI_PATH when it points at nothing runnable', () => {
    const { root, env } = scratch();
    expect(() => findTemporalCli({ ...env, TEMPORAL_CLI_PATH: path.join(root, 'missing') })).toThrow(
      /TEMPORAL_CLI_PATH: .*missing is not an executable file/,
    );
  });

  it('builds the pinned release with go install into the cache when none is found', async () => {
    const { root, bin, env } = scratch();
    const argsFile = path.join(root, 'go-args');
    // A stand-in for Go that does what `go install` does: write the binary into $GOBIN.
    script(
      path.join(bin, 'go'),
      `echo "$@" > ${argsFile}\nprintf '#!/bin/sh\\necho built\\n' > "$GOBIN/temporal"\nchmod +x "$GOBIN/temporal"`,
    );
    const cli = await ensureTemporalCli(env, log, noGo);
    expect(cli).toEqual({ path: cachedCliPath(env), source: 'cache' });
    expect(fs.readFileSync(argsFile, 'utf8').trim()).toBe(`install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`);
    expect(execFileSync(cli.path, { encoding: 'utf8' }).trim()).toBe('built');
    // The staging directory is gone: only the binary is left in the cache.
    expect(fs.readdirSync(path.dirname(cli.path))).toEqual(['temporal']);
    // The next lookup uses the cache and builds nothing.
    fs.rmSync(argsFile);
    expect(await ensureTemporalCli(env, log, noGo)).toEqual({ path: cachedCliPath(env), source: 'cache' });
    expect(fs.existsSync(argsFile)).toBe(false);
  });

  it('leaves no half-built binary behind when go install fails, and says what to do', async () => {
    const { bin, env } = scratch();
    script(
      path.join(bin, 'go'),
      'echo "partial" > "$GOBIN/temporal"; echo "dial tcp: lookup proxy.golang.org: no such host" >&2; exit 1',
    );
    const failure = ensureTemporalCli(env, log, noGo);
    await expect(failure).rejects.toThrow(/go install github\.com\/temporalio\/cli\/cmd\/temporal@v1\.5\.1 failed \(exit 1\)/);
    await expect(failure).rejects.toThrow(/GOPROXY[\s\S]*TEMPORAL_CLI_PATH[\s\S]*TEMPORAL_ADDRESS/);
    expect(findTemporalCli(env)).toBeUndefined();
    expect(fs.readdirSync(path.dirname(cachedCliPath(env)))).toEqual([]);
  });

  it('without Go and without network, fails with one message that says what to install', async () => {
    const { env } = scratch();
    // What fetch() does on a machine with no route out.
    const offline = (async () => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('getaddrinfo ENOTFOUND temporal.download'), { code: 'ENOTFOUND' }),
      });
    }) as typeof fetch;
    const failure = ensureTemporalCli(env, log, { ...noGo, fetch: offline });
    await expect(failure).rejects.toThrow(/^No Temporal CLI found and none could be installed\./);
    await expect(failure).rejects.toThrow(
      /Install Go \(1\.22 or newer\)[\s\S]*go install github\.com\/temporalio\/cli\/cmd\/temporal@v1\.5\.1/,
    );
    await expect(failure).rejects.toThrow(/TEMPORAL_CLI_PATH[\s\S]*TEMPORAL_ADDRESS/);
    await expect(failure).rejects.toThrow(/download fallback failed: fetch failed: ENOTFOUND/);
    expect(findTemporalCli(env)).toBeUndefined();
  });

  it('without Go, installs the downloaded release archive into the cache', async () => {
    const { root, env } = scratch();
    const pkg = path.join(root, 'pkg');
    script(path.join(pkg, 'temporal'), 'echo downloaded');
    const archive = path.join(root, 'temporal.tar.gz');
    execFileSync('tar', ['-czf', archive, '-C', pkg, 'temporal']);
    const requested: string[] = [];
    const server = http.createServer((req, res) => {
      requested.push(req.url ?? '');
      res.end(fs.readFileSync(archive));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const cli = await ensureTemporalCli(env, log, { ...noGo, downloadUrl: `http://127.0.0.1:${port}/cli/archive/latest` });
    expect(cli.source).toBe('cache');
    expect(requested[0]).toMatch(/^\/cli\/archive\/latest\?platform=(linux|darwin)&arch=(amd64|arm64)$/);
    expect(execFileSync(cli.path, { encoding: 'utf8' }).trim()).toBe('downloaded');
    expect(fs.readdirSync(path.dirname(cli.path))).toEqual(['temporal']);
  });

  it('keeps the cache clean when the download is not a release archive', async () => {
    const { env } = scratch();
    const notAnArchive = (async () => new Response('<html>captive portal</html>')) as typeof fetch;
    await expect(ensureTemporalCli(env, log, { ...noGo, fetch: notAnArchive })).rejects.toThrow(
      /download fallback failed: the downloaded archive has no temporal binary/,
    );
    expect(findTemporalCli(env)).toBeUndefined();
    expect(fs.readdirSync(path.dirname(cachedCliPath(env)))).toEqual([]);
  });
});
