import test from 'ava';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildLibrary, compileFixture, run } from './build-helpers.js';
import { startFakeDaemon, type FakeDaemon } from './fake-daemon.js';

// The made-up cluster: hello.default → 198.51.100.7:80, served by a local HTTP server.
const SERVICE_IP = '198.51.100.7';
let pod: Server;
let laptopServer: Server;
let daemon: FakeDaemon;
let library: string;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

test.before(async () => {
  library = await buildLibrary();
  pod = createServer((req, res) => res.end(`pod ${req.url}\n`));
  laptopServer = createServer((req, res) => res.end(`laptop ${req.url}\n`));
  const podPort = await listen(pod);
  await listen(laptopServer);
  daemon = await startFakeDaemon({
    services: { [`${SERVICE_IP}:80`]: podPort },
    names: { 'hello.default.svc.cluster.local': SERVICE_IP },
    nameservers: ['192.0.2.53'],
    libraryPath: library,
  });
});

test.after.always(async () => {
  await daemon?.close();
  pod?.close();
  laptopServer?.close();
});

test.serial('curl reaches a cluster address through the redirect listener', async (t) => {
  const before = daemon.dialed.length;
  const result = await run('curl', ['-sS', '--noproxy', '*', '--max-time', '5', `http://${SERVICE_IP}/by-ip`], daemon.env);
  t.is(result.stdout, 'pod /by-ip\n', result.stderr);
  t.deepEqual(daemon.dialed.slice(before), [`${SERVICE_IP}:80`]);
});

test.serial('curl resolves a cluster name through the daemon and reaches it', async (t) => {
  const result = await run('curl', ['-sS', '--noproxy', '*', '--max-time', '5', 'http://hello.default/by-name'], daemon.env);
  t.is(result.stdout, 'pod /by-name\n', result.stderr);
});

test.serial('a child started through sh inherits the library', async (t) => {
  const result = await run('sh', ['-c', 'exec curl -sS --noproxy "*" --max-time 5 http://hello.default/child'], daemon.env);
  t.is(result.stdout, 'pod /child\n', result.stderr);
});

test.serial('a non-blocking connect keeps EINPROGRESS and getpeername reports the cluster address', async (t) => {
  const program = await compileFixture('nonblocking-connect');
  const result = await run(program, ['hello.default', '80'], daemon.env);
  t.is(result.code, 0, result.stdout + result.stderr);
  t.true(result.stdout.includes(`resolved ${SERVICE_IP}\n`), result.stdout);
  t.true(result.stdout.includes('connect in progress\n'), result.stdout);
  t.true(result.stdout.includes(`peer ${SERVICE_IP}:80\n`), result.stdout);
  t.true(result.stdout.includes('answer HTTP/1.1 200 OK'), result.stdout);
});

test.serial('python sockets resolve and connect to the cluster with the original peer name', async (t) => {
  const script = [
    'import socket',
    'print(socket.getaddrinfo("hello.default", 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])',
    's = socket.create_connection(("hello.default", 80), timeout=5)',
    'print(s.getpeername())',
    's.sendall(b"GET /py HTTP/1.0\\r\\n\\r\\n")',
    'data = b""',
    'while chunk := s.recv(4096): data += chunk',
    'print(data.decode().split("\\r\\n\\r\\n")[1].strip())',
  ].join('\n');
  const result = await run('python3', ['-c', script], daemon.env);
  t.is(result.stdout, `${SERVICE_IP}\n('${SERVICE_IP}', 80)\npod /py\n`, result.stderr);
});

test.serial('a loopback server on the laptop is reached directly', async (t) => {
  const before = daemon.dialed.length;
  const port = (laptopServer.address() as AddressInfo).port;
  const result = await run('curl', ['-sS', '--noproxy', '*', '--max-time', '5', `http://127.0.0.1:${port}/here`], daemon.env);
  t.is(result.stdout, 'laptop /here\n', result.stderr);
  t.is(daemon.dialed.length, before);
});

test.serial('a name outside the cluster resolves exactly as without the library', async (t) => {
  const plainEnv = { ...daemon.env, LD_PRELOAD: '' };
  const withLibrary = await run('getent', ['ahosts', 'localhost'], daemon.env);
  const without = await run('getent', ['ahosts', 'localhost'], plainEnv);
  t.is(withLibrary.code, 0);
  t.is(withLibrary.stdout, without.stdout);
});

test.serial('a cluster name the cluster does not know fails like an unknown name', async (t) => {
  const result = await run('getent', ['ahosts', 'nosuch.default'], daemon.env);
  t.is(result.code, 2);
  t.is(result.stdout, '');
});

test.serial('gethostbyname answers cluster names too', async (t) => {
  const result = await run('getent', ['hosts', 'hello.default'], daemon.env);
  t.regex(result.stdout, new RegExp(`^${SERVICE_IP.replace(/\./g, '\\.')}\\s+hello\\.default`));
});

test.serial('dig asking the system resolver gets the cluster answer from the DNS stub, over UDP and TCP', async (t) => {
  for (const transport of ['+notcp', '+tcp']) {
    const result = await run('dig', ['+short', '+time=2', '+tries=1', transport, '@192.0.2.53', 'hello.default.svc.cluster.local'], daemon.env);
    t.is(result.stdout.trim(), SERVICE_IP, `${transport}: ${result.stdout}${result.stderr}`);
  }
});

test.serial('a cluster address nothing serves resets the connection', async (t) => {
  const result = await run('curl', ['-sS', '--noproxy', '*', '--max-time', '5', `http://198.51.100.8/`], daemon.env);
  t.not(result.code, 0);
  t.true(daemon.dialed.includes('198.51.100.8:80'));
});

test.serial('the routes file is re-read when the daemon rewrites it', async (t) => {
  const { readFileSync, writeFileSync, renameSync } = await import('node:fs');
  const original = readFileSync(daemon.routesFile, 'utf8');
  t.teardown(() => writeFileSync(daemon.routesFile, original));
  // Without the cluster range the address is no longer handed over (and the connect goes direct).
  const before = daemon.dialed.length;
  const script = [
    'import socket, sys, time',
    's = socket.create_connection(("198.51.100.7", 80), timeout=5); s.close(); print("first", flush=True)',
    'sys.stdin.readline()',
    'try:\n  socket.create_connection(("198.51.100.7", 80), timeout=2).close()\nexcept OSError as e:\n  pass',
    'print("second")',
  ].join('\n');
  const { spawn } = await import('node:child_process');
  const child = spawn('python3', ['-c', script], { env: daemon.env, stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => child.kill());
  let out = '';
  await new Promise<void>((resolve) => child.stdout!.on('data', (chunk: Buffer) => ((out += chunk), out.includes('first') && resolve())));
  t.is(daemon.dialed.length, before + 1);
  writeFileSync(`${daemon.routesFile}.new`, original.replace(/^cidr .*$/m, 'cidr 203.0.113.0/24'));
  renameSync(`${daemon.routesFile}.new`, daemon.routesFile);
  child.stdin!.end('\n');
  await new Promise((resolve) => child.once('exit', resolve));
  t.is(daemon.dialed.length, before + 1);
});
