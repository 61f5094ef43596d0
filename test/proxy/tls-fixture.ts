// A throwaway CA and a server certificate made with openssl, and an HTTPS server using them, so
// CONNECT tests can run curl against real TLS with --cacert.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';

const run = promisify(execFile);

export interface TlsFixture {
  caPath: string;
  port: number;
}

/** An HTTPS server answering `<label> <host><url>` with a certificate for `names`, signed by a fresh CA. */
export async function startTlsServer(t: ExecutionContext, label: string, names: string[]): Promise<TlsFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'tp-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = (name: string): string => join(dir, name);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=tp test CA', '-keyout', file('ca.key'), '-out', file('ca.pem')]);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${names[0]}`, '-keyout', file('server.key'), '-out', file('server.csr')]);
  await writeFile(file('ext.cnf'), `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\n`);
  await run('openssl', ['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', file('ext.cnf'), '-out', file('server.pem')]);
  await chmod(dir, 0o755);
  await chmod(file('ca.pem'), 0o644);
  const server = createServer({ key: await readFile(file('server.key')), cert: await readFile(file('server.pem')) }, (request, response) => {
    response.end(`${label} ${request.headers.host ?? ''}${request.url}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { caPath: file('ca.pem'), port: (server.address() as AddressInfo).port };
}
