// `tp run` end to end, against the suite's cluster: tp and the programs run as the unprivileged
// test user, which has no route into the cluster, and none of the programs is given a proxy
// setting of its own, so every cluster answer below was carried by tp's layers.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { asUser } from '../../helpers/unprivileged.js';
import { coreApi, kubectl } from '../helpers/cluster.js';
import { fixture } from '../helpers/images.js';
import { CHECKOUT, connect, ensureDemoAndManager, newLaptop, TP_BIN, type Laptop } from '../helpers/laptop.js';

const execFileAsync = promisify(execFile);
const REDIS = 'test/e2e/run/fixtures/redis.yaml.tmpl';

interface EchoAnswer {
  pod: string;
}

let laptop: Laptop;
let helloIP: string;
let fixtureDir: string;
let demoCa: string;

test.before(async () => {
  laptop = newLaptop('run');
  ({ demoCa } = await ensureDemoAndManager(laptop));
  await kubectl(['apply', '-f', '-'], { input: fixture(REDIS) });
  await kubectl(['rollout', 'status', 'deployment/redis', '--timeout=60s'], { timeoutMs: 70_000 });
  await connect(laptop);
  helloIP = (await coreApi().readNamespacedService({ name: 'hello', namespace: 'default' })).spec!.clusterIP!;
  fixtureDir = mkdtempSync(join(tmpdir(), 'tp-run-fixture-'));
  chmodSync(fixtureDir, 0o755);
});

test.after.always(async () => {
  await laptop?.cleanup();
  await kubectl(['delete', '-f', '-', '--ignore-not-found'], { input: fixture(REDIS) }).catch(() => undefined);
  if (fixtureDir) rmSync(fixtureDir, { recursive: true, force: true });
});

/** `tp run -- cmd args…` as the test user; resolves with its output and exit code. */
async function tpRun(command: string[], tpFlags: string[] = [], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await laptop.tp(['run', ...tpFlags, '--', ...command], { timeoutMs });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

async function helloPods(): Promise<string[]> {
  const pods = await coreApi().listNamespacedPod({ namespace: 'default', labelSelector: 'app=hello' });
  return pods.items.map((p) => p.metadata!.name!);
}

test.serial('curl reaches a Service by name, through the proxy settings and through the library alone', async (t) => {
  const pods = await helloPods();
  for (const extra of [[], ['--noproxy', '*']]) {
    const result = await tpRun(['curl', '-sS', '--fail', '--max-time', '10', ...extra, 'http://hello.default/']);
    t.is(result.code, 0, result.stderr);
    t.true(pods.includes((JSON.parse(result.stdout) as EchoAnswer).pod));
  }
});

test.serial('curl reaches the TLS Service with its certificate verified by name', async (t) => {
  for (const extra of [[], ['--noproxy', '*']]) {
    const result = await tpRun(['curl', '-sS', '--fail', '--max-time', '10', '--cacert', demoCa, ...extra, 'https://tls-echo.default/']);
    t.is(result.code, 0, result.stderr);
    t.regex((JSON.parse(result.stdout) as EchoAnswer).pod, /^tls-echo-/);
  }
});

test.serial('python urllib reaches a Service and a raw socket talks to the tcp-echo Service', async (t) => {
  const script = [
    'import json, socket, urllib.request',
    'print(json.load(urllib.request.urlopen("http://hello.default/", timeout=10))["pod"])',
    's = socket.create_connection(("tcp-echo.default", 9000), timeout=10)',
    's.sendall(b"ping over tp")',
    'data = b""',
    'while len(data) < 12 and (chunk := s.recv(100)): data += chunk',
    'print(data.decode())',
  ].join('\n');
  const result = await tpRun(['python3', '-c', script]);
  t.is(result.code, 0, result.stderr);
  const [pod, echo] = result.stdout.trim().split('\n');
  t.true((await helloPods()).includes(pod));
  t.is(echo, 'ping over tp');
});

test.serial('redis-cli talks to a redis-server pod', async (t) => {
  const result = await tpRun(['sh', '-c', 'redis-cli -h redis.default set tp-key carried && redis-cli -h redis.default get tp-key']);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, 'OK\ncarried\n');
});

test.serial('Node: fetch, http.get, net.connect, tls.connect with servername, and a curl child of Node', async (t) => {
  const script = `
    const net = require('net'), tls = require('tls'), http = require('http'), fs = require('fs'), cp = require('child_process');
    const get = (url) => new Promise((resolve, reject) => http.get(url, (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => resolve(JSON.parse(b).pod)); }).on('error', reject));
    const echo = () => new Promise((resolve, reject) => { const s = net.connect(9000, 'tcp-echo.default', () => s.write('node-echo')); s.once('data', (d) => { resolve(d.toString()); s.destroy(); }); s.on('error', reject); });
    const secure = () => new Promise((resolve, reject) => { const s = tls.connect({ host: 'tls-echo.default', port: 443, servername: 'tls-echo.default', ca: fs.readFileSync(${JSON.stringify(demoCa)}) }, () => { resolve(String(s.authorized)); s.destroy(); }); s.on('error', reject); });
    const child = () => new Promise((resolve, reject) => cp.execFile('curl', ['-sS', '--noproxy', '*', 'http://hello.default/'], (e, out) => (e ? reject(e) : resolve(JSON.parse(out).pod))));
    (async () => {
      console.log((await (await fetch('http://hello.default/')).json()).pod);
      console.log(await get('http://hello.default/'));
      console.log(await echo());
      console.log(await secure());
      console.log(await child());
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const result = await tpRun([process.execPath, '-e', script]);
  t.is(result.code, 0, result.stderr);
  const [fetched, got, echoed, authorized, fromChild] = result.stdout.trim().split('\n');
  const pods = await helloPods();
  t.true(pods.includes(fetched) && pods.includes(got) && pods.includes(fromChild), result.stdout);
  t.is(echoed, 'node-echo');
  t.is(authorized, 'true');
});

test.serial('a C program: getaddrinfo gives the ClusterIP, a non-blocking connect completes and getpeername reports it', async (t) => {
  const program = join(fixtureDir, 'nonblocking-connect');
  await execFileAsync('cc', ['-O1', '-o', program, join(CHECKOUT, 'test/shims/fixtures/nonblocking-connect.c')]);
  const result = await tpRun([program, 'hello.default', '80']);
  t.is(result.code, 0, result.stdout + result.stderr);
  t.true(result.stdout.includes(`resolved ${helloIP}\n`), result.stdout);
  t.true(result.stdout.includes(`peer ${helloIP}:80\n`), result.stdout);
  t.true(result.stdout.includes('answer HTTP/1.1 200'), result.stdout);
});

test.serial('dig inside tp run answers a cluster name from the cluster', async (t) => {
  const result = await tpRun(['dig', '+short', '+time=3', '+tries=1', 'hello.default.svc.cluster.local']);
  t.is(result.stdout.trim(), helloIP, result.stderr);
});

test.serial('a loopback server on the laptop is reached directly and a non-cluster name resolves as before', async (t) => {
  const server: Server = createServer((_req, res) => res.end('laptop'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const local = await tpRun(['curl', '-sS', '--noproxy', '*', `http://127.0.0.1:${port}/`]);
  t.is(local.stdout, 'laptop');
  const outside = await tpRun(['getent', 'ahosts', 'localhost']);
  const plain = await laptop.run('getent', ['ahosts', 'localhost']);
  t.is(outside.stdout, plain.stdout);
});

test.serial('busybox-static gets the warning and still reaches the Service through the proxy settings', async (t) => {
  const result = await tpRun(['busybox', 'wget', '-q', '-O', '-', 'http://hello.default/']);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stderr, /statically linked/);
  t.true((await helloPods()).includes((JSON.parse(result.stdout) as EchoAnswer).pod));
});

test.serial('the command\'s exit code is tp\'s', async (t) => {
  t.is((await tpRun(['sh', '-c', 'exit 7'])).code, 7);
  t.is((await tpRun(['no-such-command-tp'])).code, 127);
});

test.serial('SIGINT sent to tp reaches the command', async (t) => {
  const [file, argv] = asUser('env', ['-i', ...Object.entries(laptop.env).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`), process.execPath, TP_BIN, 'run', '--', 'sh', '-c', 'trap "echo got-int; exit 3" INT; echo ready; while :; do sleep 0.1; done']);
  const child = spawn(file, argv, { cwd: CHECKOUT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk));
  await new Promise<void>((resolve) => child.stdout.on('data', () => out.includes('ready') && resolve()));
  // The signal goes to tp itself (runuser's child), which forwards it to the command.
  const tpPid = Number((await execFileAsync('pgrep', ['-P', String(child.pid)])).stdout.trim().split('\n')[0]);
  process.kill(tpPid, 'SIGINT');
  const [code] = (await once(child, 'exit')) as [number];
  t.true(out.includes('got-int'), out);
  t.is(code, 3);
});
