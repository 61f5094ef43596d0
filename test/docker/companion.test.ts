// The host's companion of a Docker-mode connection, with real sockets and processes: the port
// forward keeps TCP's half-close, and the credentials server runs the user's plugin only for a
// caller that shows the secret.
import test from 'ava';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchCredentials, startCredentialsServer } from '../../src/docker/credentials.js';
import { startForward } from '../../src/docker/forward.js';

test('the forward passes bytes both ways and a FIN as a FIN, the other direction still flowing', async (t) => {
  const upstream = createServer({ allowHalfOpen: true }, (socket) => {
    let got = '';
    socket.on('data', (chunk: Buffer) => (got += chunk.toString()));
    // Answers only after the client's FIN: the FIN reached it as an end, and the way back is open.
    socket.on('end', () => socket.end(`got ${got}`));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const { server, port } = await startForward({ listenHost: '127.0.0.1', listenPort: 0, toHost: '127.0.0.1', toPort: (upstream.address() as AddressInfo).port });
  t.teardown(() => {
    server.close();
    upstream.close();
  });
  const answer = await new Promise<string>((resolve, reject) => {
    const client = createConnection({ host: '127.0.0.1', port, allowHalfOpen: true }, () => client.end('ping'));
    let text = '';
    client.on('data', (chunk: Buffer) => (text += chunk.toString()));
    client.on('end', () => resolve(text));
    client.on('error', reject);
  });
  t.is(answer, 'got ping');
});

test('the forward resets its client when the destination refuses', async (t) => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const { server, port } = await startForward({ listenHost: '127.0.0.1', listenPort: 0, toHost: '127.0.0.1', toPort: deadPort });
  t.teardown(() => server.close());
  const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    const client = createConnection({ host: '127.0.0.1', port });
    client.on('error', resolve);
    client.on('close', () => resolve(undefined));
    client.resume();
  });
  t.is(error?.code, 'ECONNRESET');
});

test('the credentials server runs the plugin for the secret\'s holder and refuses everyone else', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-docker-creds-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const plugin = join(dir, 'plugin.sh');
  writeFileSync(plugin, '#!/bin/sh\nprintf \'{"kind":"ExecCredential","status":{"token":"%s"}}\' "$TOKEN_FOR_TEST"\n');
  chmodSync(plugin, 0o755);
  const { server, port } = await startCredentialsServer('127.0.0.1', { command: plugin, env: [{ name: 'TOKEN_FOR_TEST', value: 'from-the-host' }] }, 'the-secret');
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${port}/credentials`;
  writeFileSync(join(dir, 'secret'), 'the-secret\n');
  t.is((JSON.parse(await fetchCredentials(url, join(dir, 'secret'))) as { status: { token: string } }).status.token, 'from-the-host');
  writeFileSync(join(dir, 'wrong'), 'not-the-secret');
  await t.throwsAsync(fetchCredentials(url, join(dir, 'wrong')), { message: /answered 403/ });
  t.is((await fetch(url)).status, 403);
});
