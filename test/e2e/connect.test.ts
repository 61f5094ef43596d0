// tp connect end to end, against the suite's cluster: tp runs as the unprivileged test user, which
// has no route into the cluster, so every cluster answer below was carried by tp.
import test from 'ava';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { createPacResolver } from 'pac-resolver';
import { QuickJS } from 'quickjs-wasi';
import { CONTEXT, coreApi, kubectl } from './helpers/cluster.js';
import { connect, ensureDemoAndManager, eventually, newLaptop, type Laptop, type Listeners } from './helpers/laptop.js';

interface EchoAnswer {
  pod: string;
  headers: Record<string, string>;
}

let laptop: Laptop;
let listeners: Listeners;
let demoCa: string;

test.before(async () => {
  laptop = newLaptop('connect');
  ({ demoCa } = await ensureDemoAndManager(laptop));
  ({ listeners } = await connect(laptop));
});

test.after.always(async () => {
  await laptop?.cleanup();
});

async function curl(args: string[]): Promise<string> {
  return (await laptop.run('curl', ['-sS', '--fail', '--max-time', '10', ...args])).stdout;
}

async function helloPods(): Promise<string[]> {
  const pods = await coreApi().listNamespacedPod({ namespace: 'default', labelSelector: 'app=hello' });
  return pods.items.map((p) => p.metadata!.name!);
}

test.serial('right after connecting, tp status shows every tunnel\'s measured round trip', async (t) => {
  const { stdout } = await laptop.tp(['status']);
  const tunnels = stdout.split('\n').filter((line) => /^\s+tunnel /.test(line));
  t.true(tunnels.length >= 1, stdout);
  for (const line of tunnels) t.regex(line, /rtt \d+\.\d ms$/);
});

test.serial('the export line tp connect prints sends wget, which reads only the lower-case variables, through tp', async (t) => {
  const { stdout } = await laptop.tp(['connect']);
  const line = stdout.split('\n').map((l) => l.trim()).find((l) => l.startsWith('export '));
  t.truthy(line, stdout);
  const body = (await laptop.run('sh', ['-c', `${line}; exec wget -q -O - -T 10 -t 1 http://hello.default/`])).stdout;
  t.true((await helloPods()).includes((JSON.parse(body) as EchoAnswer).pod), body);
});

test.serial('curl through the HTTP proxy and through SOCKS5 gets a hello pod\'s answer, by short name, FQDN and ClusterIP', async (t) => {
  const pods = await helloPods();
  const clusterIP = (await coreApi().readNamespacedService({ name: 'hello', namespace: 'default' })).spec!.clusterIP!;
  const answers = [
    await curl(['-x', `http://${listeners.http}`, 'http://hello.default/']),
    await curl(['-x', `http://${listeners.http}`, 'http://hello/']),
    await curl(['--socks5-hostname', listeners.socks, 'http://hello.default.svc.cluster.local/']),
    await curl(['-x', `http://${listeners.http}`, `http://${clusterIP}/`]),
    await curl(['--socks5', listeners.socks, `http://${clusterIP}/`]),
  ].map((body) => JSON.parse(body) as EchoAnswer);
  for (const answer of answers) t.true(pods.includes(answer.pod), `${answer.pod} is not one of ${pods.join(', ')}`);
});

test.serial('HTTPS to the TLS service through CONNECT verifies its certificate by the cluster name', async (t) => {
  const body = await curl(['--cacert', demoCa, '-x', `http://${listeners.http}`, 'https://tls-echo.default/']);
  t.regex((JSON.parse(body) as EchoAnswer).pod, /^tls-echo-/);
  // The same certificate does not match a name it was not issued for: curl must refuse it.
  const clusterIP = (await coreApi().readNamespacedService({ name: 'tls-echo', namespace: 'default' })).spec!.clusterIP!;
  const error = await t.throwsAsync(curl(['--cacert', demoCa, '-x', `http://${listeners.http}`, `https://${clusterIP}/`]));
  t.regex(String((error as { stderr?: string }).stderr), /SSL|certificate|subject/i);
});

test.serial('the DNS stub answers a cluster name with the ClusterIP and forwards other names', async (t) => {
  const [host, port] = listeners.dns.split(':');
  const clusterIP = (await coreApi().readNamespacedService({ name: 'hello', namespace: 'default' })).spec!.clusterIP!;
  const dig = async (args: string[]) => (await laptop.run('dig', ['+short', '+time=3', '+tries=1', ...args])).stdout.trim();
  t.is(await dig([`@${host}`, '-p', port, 'hello.default.svc.cluster.local']), clusterIP);
  t.is(await dig([`@${host}`, '-p', port, '+tcp', 'hello.default']), clusterIP);
  // A name outside the cluster gets what the system's own resolver says.
  const direct = await dig(['registry.npmjs.org']);
  t.not(direct, '');
  t.is(await dig([`@${host}`, '-p', port, 'registry.npmjs.org']), direct);
});

test.serial('the PAC file, evaluated by an independent engine, sends cluster names to the proxy and others DIRECT', async (t) => {
  const pac = await curl([listeners.pac]);
  const findProxy = createPacResolver(await QuickJS.create(), pac);
  t.regex(await findProxy('http://hello.default/', 'hello.default'), new RegExp(`PROXY ${listeners.http}`));
  // A ClusterIP (the cluster's service range, which the daemon learned) goes to the proxy too.
  const clusterIP = (await coreApi().readNamespacedService({ name: 'hello', namespace: 'default' })).spec!.clusterIP!;
  t.regex(await findProxy(`http://${clusterIP}/`, clusterIP), /PROXY/);
  t.is(await findProxy('https://example.com/', 'example.com'), 'DIRECT');
});

test.serial('a server on the laptop side is reached DIRECT through the same proxy', async (t) => {
  const server = createServer((_req, res) => res.end('laptop side'));
  server.listen(0, '0.0.0.0');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const hostIp = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address ?? '127.0.0.1';
  t.is(await curl(['-x', `http://${listeners.http}`, `http://${hostIp}:${port}/`]), 'laptop side');
  t.is(await curl(['--socks5-hostname', listeners.socks, `http://localhost:${port}/`]), 'laptop side');
});

test.serial('a refused cluster port comes back as a readable error, and garbage sent to the proxies harms nobody', async (t) => {
  // A pod's own port where nothing listens is refused (a Service port the Service does not define
  // would be dropped by kube-proxy, and time out instead).
  const pod = (await coreApi().listNamespacedPod({ namespace: 'default', labelSelector: 'app=hello' })).items.find((p) => p.status?.podIP && !p.metadata?.deletionTimestamp)!;
  const refused = await t.throwsAsync(curl(['-x', `http://${listeners.http}`, `http://${pod.status!.podIP}:81/`]));
  t.regex(String((refused as { stderr?: string }).stderr), /502/);
  for (const address of [listeners.socks, listeners.http]) {
    const [host, port] = address.split(':');
    const socket = netConnect(Number(port), host);
    socket.on('error', () => undefined);
    // Read (and drop) whatever error reply comes, so the close that follows it is seen.
    socket.resume();
    socket.end(Buffer.from('\x05\xff\x00garbage\r\n\r\n'));
    await once(socket, 'close');
  }
  t.regex(await curl(['--socks5-hostname', listeners.socks, 'http://hello.default/']), /"pod":"hello-/);
});

test.serial('tp status --output json has the documented fields', async (t) => {
  const status = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as Record<string, unknown> & { manager: Record<string, unknown>; listeners: Listeners };
  for (const field of ['connected', 'phase', 'version', 'pid', 'context', 'server', 'namespace', 'managerNamespace', 'manager', 'listeners', 'routing', 'logFile']) t.true(field in status, `status has ${field}`);
  t.is(status.phase, 'connected');
  t.is(status.context, CONTEXT);
  t.is(status.manager.state, 'connected');
  t.is(status.manager.via, 'port-forward');
  t.deepEqual(status.listeners, listeners);
});

test.serial('the daemon reconnects by itself after the manager restarts, and new requests succeed', async (t) => {
  const before = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { manager: { managerPod: string; reconnects: number } };
  await kubectl(['-n', 'tp', 'delete', 'pod', before.manager.managerPod, '--wait=false']);
  const body = await eventually(async () => {
    const status = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { manager: { managerPod: string } };
    if (status.manager.managerPod === before.manager.managerPod) throw new Error('still on the old manager pod');
    return curl(['-x', `http://${listeners.http}`, 'http://hello.default/']);
  }, 60_000);
  t.regex(body, /"pod":"hello-/);
  const after = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { manager: { reconnects: number } };
  t.true(after.manager.reconnects > before.manager.reconnects);
});

test.serial('connecting again while connected says so and keeps the same daemon', async (t) => {
  const first = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { pid: number };
  const again = JSON.parse((await laptop.tp(['connect', '--output', 'json'])).stdout) as { alreadyConnected: boolean; status: { pid: number } };
  t.true(again.alreadyConnected);
  t.is(again.status.pid, first.pid);
});

test.serial('tp quit stops the daemon and leaves no process, socket or state behind', async (t) => {
  const { pid } = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { pid: number };
  await laptop.tp(['quit']);
  t.throws(() => process.kill(pid, 0));
  const status = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { connected: boolean };
  t.false(status.connected);
  const leftovers = (await laptop.run('find', [laptop.home, '-name', 'daemon-*.sock', '-o', '-name', 'daemon-*.json'])).stdout.trim();
  t.is(leftovers, '');
});
