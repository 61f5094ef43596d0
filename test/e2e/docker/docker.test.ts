// Docker mode end to end, as the unprivileged test user with the engine a laptop has (the Docker
// API at TP_E2E_DOCKER_HOST, default unix:///run/podman/podman.sock, which scripts/setup-machine
// starts; tp's image TP_E2E_DOCKER_IMAGE, default localhost/tp/tp:<version>, from `npm run image`).
// One daemon container serves most tests: a container joined to its network (busybox-static and
// a static Go program, in a small image made here) reaches cluster Services by name and the host
// as before; the host's proxies ask for credentials and reach the cluster; the host's DNS stub
// answers the test user and refuses the second user; a second connection stands beside it and a
// command without --use lists both; each error case; quit leaves nothing.
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RUNNING_AS_ROOT, TEST_USER } from '../../helpers/unprivileged.js';
import { coreApi } from '../helpers/cluster.js';
import { CHECKOUT, ensureDemoAndManager, KUBECONFIG, newLaptop, type Laptop } from '../helpers/laptop.js';
import { addBusybox, docker, goBuild, importImage, useEngine } from './helpers.js';

// Names of this run's own, so that runs on one engine do not meet.
const NAME = `e2e${process.pid}`;
const CONTAINER = `tp-${NAME}`;
const STATIC_IMAGE = `localhost/tp-e2e/static-${NAME}:1`;
const OTHER_USER = process.env.TP_TEST_USER2 ?? 'tpuser2';

let laptop: Laptop;
let workDir: string;
let hostServer: Server;

test.before(async () => {
  // A root filesystem with busybox-static and a static Go client (Go's own resolver), as an image.
  workDir = mkdtempSync(join(tmpdir(), 'tp-docker-e2e-'));
  const root = join(workDir, 'root');
  goBuild('test/e2e/run/fixtures/netns-probe/main.go', join(root, 'bin', 'probe'));
  addBusybox(root, ['sh', 'nc', 'cat', 'sleep', 'nslookup']);
  importImage(root, STATIC_IMAGE);
  laptop = newLaptop('docker');
  useEngine(laptop);
  await ensureDemoAndManager(laptop);
  // A server on the host's side of the engine's bridge: a destination outside the cluster.
  hostServer = createServer((_req, res) => res.end('hello from the host'));
  await new Promise<void>((resolve) => hostServer.listen(0, '0.0.0.0', resolve));
  await laptop.tp(['connect', '--docker', '--name', NAME], { timeoutMs: 150_000 });
});

test.after.always(async () => {
  await laptop?.tp(['quit', '--use', NAME]).catch(() => undefined);
  await laptop?.tp(['quit', '--use', `${NAME}-b`]).catch(() => undefined);
  await laptop?.tp(['quit', '--use', `${NAME}-exec`]).catch(() => undefined);
  await laptop?.cleanup();
  hostServer?.close();
  try {
    docker(['rmi', '-f', STATIC_IMAGE]);
  } catch {
    // not made
  }
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** Runs a command in a fresh container joined to the daemon's network, with the test user's engine client. */
async function joined(command: string[]): Promise<{ stdout: string; stderr: string }> {
  return laptop.run('docker', ['run', '--rm', '--network', `container:${CONTAINER}`, STATIC_IMAGE, ...command], { timeoutMs: 60_000 });
}

test.serial('docker ps shows the daemon container, and tp status its network and engine', async (t) => {
  const { stdout: ps } = await laptop.run('docker', ['ps', '--format', '{{.Names}}']);
  t.true(ps.split('\n').includes(CONTAINER), ps);
  const { stdout } = await laptop.tp(['status', '--use', NAME]);
  t.true(stdout.includes(`Container network : container:${CONTAINER}`), stdout);
  t.regex(stdout, /Engine: +docker CLI/);
  t.regex(stdout, /Manager: +connected/);
});

test.serial('a joined container: busybox-static nc and a static Go program reach Services by name; names outside the cluster resolve and the host stays reachable', async (t) => {
  const echo = await joined(['sh', '-c', 'echo hello through the container | nc tcp-echo.default 9000']);
  t.true(echo.stdout.includes('hello through the container'), echo.stdout + echo.stderr);
  const get = await joined(['probe', 'get', 'http://hello.default/']);
  t.regex((JSON.parse(get.stdout) as { pod: string }).pod, /^hello-/);
  const goEcho = await joined(['probe', 'echo', 'tcp-echo.default:9000', 'hello from go']);
  t.is(goEcho.stdout, 'hello from go');
  const lookup = await joined(['probe', 'lookup', 'hello.default']);
  t.regex(lookup.stdout.trim(), /^\d+\.\d+\.\d+\.\d+/);
  // A name outside the cluster resolves as on the host (the relay asks the daemon's stub over TCP, which forwards it).
  const outside = (await laptop.run('dig', ['+short', '+time=5', '+tries=1', 'registry.npmjs.org'])).stdout.trim().split('\n').filter((line) => /^\d+\.\d+\.\d+\.\d+$/.test(line));
  t.not(outside.length, 0);
  const outsideLookup = await joined(['probe', 'lookup', 'registry.npmjs.org']);
  t.true(outside.includes(outsideLookup.stdout.trim().split('\n')[0]), `${outsideLookup.stdout} ${outsideLookup.stderr} vs ${outside.join(' ')}`);
  // Outside the cluster: the host, at the engine's bridge gateway.
  const gateway = docker(['network', 'inspect', 'bridge', '--format', '{{range .IPAM.Config}}{{.Gateway}}{{end}}']).trim();
  const port = (hostServer.address() as { port: number }).port;
  const host = await joined(['probe', 'get', `http://${gateway}:${port}/`]);
  t.is(host.stdout, 'hello from the host');
});

test.serial('the host\'s HTTP proxy and SOCKS5 reach a Service with the printed credentials, and refuse without them', async (t) => {
  const { stdout } = await laptop.tp(['status', '--use', NAME, '--output', 'json']);
  const listeners = (JSON.parse(stdout) as { listeners: { http: string; socks: string; credentials: { user: string; password: string } } }).listeners;
  const auth = `${listeners.credentials.user}:${listeners.credentials.password}`;
  const viaHttp = await laptop.run('curl', ['-sS', '--fail', '--max-time', '20', '-x', `http://${auth}@${listeners.http}`, 'http://hello.default/']);
  t.regex((JSON.parse(viaHttp.stdout) as { pod: string }).pod, /^hello-/);
  const viaSocks = await laptop.run('curl', ['-sS', '--fail', '--max-time', '20', '-x', `socks5h://${auth}@${listeners.socks}`, 'http://hello.default/']);
  t.regex((JSON.parse(viaSocks.stdout) as { pod: string }).pod, /^hello-/);
  const refused = await laptop.run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '20', '-x', `http://${listeners.http}`, 'http://hello.default/']);
  t.is(refused.stdout, '407');
});

test.serial('the host\'s DNS stub answers the test user over UDP and TCP, refuses the second user, and lives through garbage', async (t) => {
  const { stdout: text } = await laptop.tp(['status', '--use', NAME]);
  const { stdout } = await laptop.tp(['status', '--use', NAME, '--output', 'json']);
  const dns = (JSON.parse(stdout) as { listeners: { dns: string } }).listeners.dns;
  t.regex(dns, /^127\.0\.0\.1:\d+$/);
  t.true(text.includes(`DNS stub:   ${dns}`), text);
  const [host, port] = dns.split(':');
  const clusterIP = (await coreApi().readNamespacedService({ name: 'hello', namespace: 'default' })).spec!.clusterIP!;
  const ask = (transport: string, name: string): string[] => [`@${host}`, '-p', port, '+time=5', '+tries=1', transport, name, 'A'];
  for (const transport of ['+notcp', '+tcp']) {
    const answer = await laptop.run('dig', [...ask(transport, 'hello.default.svc.cluster.local'), '+short']);
    t.is(answer.stdout.trim(), clusterIP, transport);
  }
  // A name outside the cluster gets what this machine's own resolver says, as from a native connection's stub.
  const direct = (await laptop.run('dig', ['+short', '+time=5', '+tries=1', 'registry.npmjs.org'])).stdout.trim();
  t.not(direct, '');
  t.is((await laptop.run('dig', [...ask('+notcp', 'registry.npmjs.org'), '+short'])).stdout.trim(), direct);
  // Garbage first (too short, a response, two questions, random bytes over UDP and TCP), then a query still answers.
  const garbage = `import socket, os
for packet in [b"x", bytes.fromhex("abcd800000010000000000000000010001"), bytes.fromhex("12340100000200000000000000000100010000010001"), os.urandom(300)]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(packet, ("${host}", ${port})); s.close()
t = socket.create_connection(("${host}", ${port})); t.sendall(b"\\xff\\xff" + os.urandom(100)); t.close()`;
  await laptop.run('python3', ['-c', garbage]);
  const python = `import socket, struct
q = struct.pack(">HHHHHH", 0x7470, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(p)]) + p.encode() for p in "hello.default.svc.cluster.local".split(".")) + b"\\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); s.sendto(q, ("${host}", ${port}))
a = s.recv(4096); print(a[0:2] == q[0:2], a[3] & 15, ".".join(str(b) for b in a[-4:]))`;
  t.is((await laptop.run('python3', ['-c', python])).stdout.trim(), `True 0 ${clusterIP}`);
  if (!RUNNING_AS_ROOT) return void t.log('not root: cannot ask as a second user');
  for (const transport of ['+notcp', '+tcp']) {
    const other = await new Promise<string>((resolve) => execFile('runuser', ['-u', OTHER_USER, '--', 'dig', ...ask(transport, 'hello.default.svc.cluster.local')], { encoding: 'utf8', timeout: 60_000 }, (_error, out) => resolve(out)));
    t.regex(other, /status: REFUSED/, transport);
    t.notRegex(other, new RegExp(clusterIP.replace(/\./g, '\\.')), transport);
  }
});

test.serial('tp run --use: curl without proxy settings and dig reach the cluster through the shims the host\'s companion serves, and --netns through the daemon', async (t) => {
  const clusterIP = (await coreApi().readNamespacedService({ name: 'hello', namespace: 'default' })).spec!.clusterIP!;
  // --noproxy: the LD_PRELOAD library alone (name from the daemon's name socket, connection through the companion's redirect listener).
  const curl = await laptop.tp(['run', '--use', NAME, '--', 'curl', '-sS', '--fail', '--noproxy', '*', '--max-time', '20', 'http://hello.default/'], { timeoutMs: 90_000 });
  t.regex((JSON.parse(curl.stdout) as { pod: string }).pod, /^hello-/);
  // dig asks the system's resolver itself; the library sends that question to the host's DNS stub.
  const dig = await laptop.tp(['run', '--use', NAME, '--', 'dig', '+short', '+time=5', '+tries=1', 'hello.default.svc.cluster.local'], { timeoutMs: 90_000 });
  t.is(dig.stdout.trim(), clusterIP);
  const captured = await laptop.tp(['run', '--netns', '--use', NAME, '--', 'curl', '-sS', '--fail', '--max-time', '20', 'http://hello.default/'], { timeoutMs: 90_000 });
  t.regex((JSON.parse(captured.stdout) as { pod: string }).pod, /^hello-/);
});

test.serial('a second Docker-mode connection, made with podman as the CLI where docker is absent, and a native one beside the first: a command without --use lists them', async (t) => {
  // A PATH with podman and no docker (Debian's docker.io puts it beside podman in /usr/bin): tp takes
  // podman, which reaches the engine through CONTAINER_HOST.
  const podmanOnly = join(workDir, 'podman-only');
  mkdirSync(podmanOnly);
  symlinkSync(execFileSync('/bin/sh', ['-c', 'command -v podman'], { encoding: 'utf8' }).trim(), join(podmanOnly, 'podman'));
  chmodSync(workDir, 0o755);
  const withoutDocker = { PATH: podmanOnly };
  t.throws(() => execFileSync('/bin/sh', ['-c', 'command -v docker'], { env: withoutDocker }));
  await laptop.tp(['connect', '--docker', '--name', `${NAME}-b`, '--namespace', 'kube-system'], { env: withoutDocker, timeoutMs: 150_000 });
  const { stdout: viaPodman } = await laptop.tp(['status', '--use', `${NAME}-b`]);
  t.regex(viaPodman, /Engine: +podman CLI → CONTAINER_HOST=\S+: Podman Engine/);
  const joinedByPodman = await laptop.run('podman', ['run', '--rm', '--network', `container:tp-${NAME}-b`, STATIC_IMAGE, 'sh', '-c', 'echo hello through podman | nc tcp-echo.default 9000'], { env: withoutDocker, timeoutMs: 60_000 });
  t.is(joinedByPodman.stdout.trim(), 'hello through podman');
  await laptop.tp(['connect'], { timeoutMs: 90_000 });
  const native = await laptop.tp(['status', '--use', 'native']);
  t.regex(native.stdout, /Daemon: +connected/);
  t.false(native.stdout.includes('Container network'));
  const ambiguous = await laptop.tp(['status']).then(
    () => t.fail('tp status chose one of two connections'),
    (error: { stderr: string }) => error.stderr,
  );
  t.true(typeof ambiguous === 'string' && ambiguous.includes('TP_ERR_CONNECTION_AMBIGUOUS') && ambiguous.includes(`tp-${NAME})`) && ambiguous.includes(`tp-${NAME}-b`) && ambiguous.includes('native'), String(ambiguous));
  await laptop.tp(['quit', '--use', 'native']);
  const { stdout } = await laptop.tp(['status', '--use', `${NAME}-b`]);
  t.regex(stdout, /Namespace: +kube-system/);
  await laptop.tp(['quit', '--use', `${NAME}-b`], { env: withoutDocker });
  const { stdout: ps } = await laptop.run('docker', ['ps', '-a', '--format', '{{.Names}}']);
  t.false(ps.split('\n').includes(`tp-${NAME}-b`), ps);
  t.true(ps.split('\n').includes(CONTAINER), ps);
});

test.serial('a kubeconfig whose user is an exec plugin: the host runs the plugin for the container', async (t) => {
  const original = new KubeConfig();
  original.loadFromFile(KUBECONFIG!);
  const userName = original.getContextObject(original.getCurrentContext())!.user;
  const pluginLog = join(workDir, 'plugin-runs.log');
  writeFileSync(pluginLog, '');
  chmodSync(pluginLog, 0o666);
  const withPlugin = new KubeConfig();
  withPlugin.loadFromOptions({
    clusters: original.getClusters(),
    contexts: original.getContexts(),
    currentContext: original.getCurrentContext(),
    users: [{ name: userName, exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: process.execPath, args: [join(CHECKOUT, 'test/e2e/docker/fixtures/exec-plugin.mjs')], env: [{ name: 'TP_E2E_ORIGINAL_KUBECONFIG', value: KUBECONFIG }, { name: 'TP_E2E_PLUGIN_LOG', value: pluginLog }], interactiveMode: 'Never' } }],
  });
  const kubeconfig = join(workDir, 'exec-kubeconfig');
  writeFileSync(kubeconfig, withPlugin.exportConfig());
  chmodSync(kubeconfig, 0o644);
  chmodSync(workDir, 0o755);
  try {
    await laptop.tp(['connect', '--docker', '--name', `${NAME}-exec`], { env: { KUBECONFIG: kubeconfig }, timeoutMs: 150_000 });
    const { stdout } = await laptop.tp(['status', '--use', `${NAME}-exec`]);
    t.regex(stdout, /Manager: +connected/);
    t.regex(readFileSync(pluginLog, 'utf8'), new RegExp(`^run by uid ${execFileSync('id', ['-u', TEST_USER], { encoding: 'utf8' }).trim()}$`, 'm'));
    // The plugin's environment (secrets, for some plugins) is on no command line another user could read.
    const { stdout: commandLines } = await laptop.run('ps', ['-eo', 'args']);
    t.true(commandLines.includes('docker api-relay'), commandLines);
    t.false(commandLines.includes(pluginLog), commandLines);
  } finally {
    await laptop.tp(['quit', '--use', `${NAME}-exec`]).catch(() => undefined);
  }
});

test.serial('errors: no engine, a host command for a Docker-mode intercept, a missing image, a name in use', async (t) => {
  const failure = async (args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> =>
    laptop.tp(args, { env, timeoutMs: 60_000 }).then(
      ({ stdout }) => `unexpected success: ${stdout}`,
      (error: { stderr: string }) => error.stderr,
    );
  const noEngine = await failure(['connect', '--docker', '--name', `${NAME}-x`], { DOCKER_HOST: `unix://${workDir}/no-engine.sock`, TP_DOCKER_CLI: 'docker' });
  t.regex(noEngine, /TP_ERR_DOCKER_NO_ENGINE/);
  t.regex(noEngine, /Try this:/);
  // A command on this machine would never see the traffic, which arrives in the container's network.
  const hostCommand = await failure(['intercept', 'hello', '--use', NAME, '--port', '8080', '--', 'true']);
  t.regex(hostCommand, /TP_ERR_INTERCEPT_BAD_SPEC/);
  t.regex(hostCommand, /--docker-run/);
  const noImage = await failure(['connect', '--docker', '--name', `${NAME}-x`, '--image', 'localhost/tp-e2e/no-such-image:0']);
  t.regex(noImage, /TP_ERR_DOCKER_IMAGE_MISSING/);
  t.regex(noImage, /npm run image|docker build/);
  docker(['run', '-d', '--name', `tp-${NAME}-taken`, STATIC_IMAGE, 'sleep', '600']);
  try {
    const taken = await failure(['connect', '--docker', '--name', `${NAME}-taken`]);
    t.regex(taken, /TP_ERR_DOCKER_NAME_IN_USE/);
    t.regex(taken, /--name/);
  } finally {
    docker(['rm', '-f', `tp-${NAME}-taken`]);
  }
});

test.serial('an engine that does not grant NET_ADMIN: a clear error, and nothing left behind', async (t) => {
  // A docker CLI whose `run` leaves out --cap-add, as an engine's policy (or a rootless engine) that
  // refuses the capability would: the real engine then runs the container without it.
  const cli = join(workDir, 'docker-without-net-admin');
  const script = [
    '#!/bin/sh',
    'if [ "$1" = run ]; then',
    '  shift',
    '  for arg do',
    '    shift',
    '    if [ "$skip" = 1 ]; then skip=0; continue; fi',
    '    if [ "$arg" = --cap-add ]; then skip=1; continue; fi',
    '    set -- "$@" "$arg"',
    '  done',
    '  set -- run "$@"',
    'fi',
    'exec docker "$@"',
  ];
  writeFileSync(cli, script.join('\n') + '\n');
  chmodSync(workDir, 0o755);
  chmodSync(cli, 0o755);
  const stderr = await laptop.tp(['connect', '--docker', '--name', `${NAME}-nocap`], { env: { TP_DOCKER_CLI: cli }, timeoutMs: 150_000 }).then(
    ({ stdout }) => `unexpected success: ${stdout}`,
    (error: { stderr: string }) => error.stderr,
  );
  t.regex(stderr, /TP_ERR_DOCKER_NET_ADMIN/);
  t.regex(stderr, /Try this:/);
  const { stdout: ps } = await laptop.run('docker', ['ps', '-a', '--format', '{{.Names}}']);
  t.false(ps.split('\n').includes(`tp-${NAME}-nocap`), ps);
});

test.serial('tp gather-logs --use packs the daemon\'s log from the container and the host companion\'s log', async (t) => {
  const archive = join(laptop.home, 'docker-logs.tar.gz');
  const { stdout } = await laptop.tp(['gather-logs', '--use', NAME, '--no-cluster', '--output-file', archive, '--output', 'json']);
  const names = (JSON.parse(stdout) as { entries: { name: string }[] }).entries.map((entry) => entry.name);
  t.true(names.some((name) => /\/daemon\/daemon-.*\.log$/.test(name)), names.join(' '));
  t.true(names.some((name) => name.endsWith('/docker/companion.log')), names.join(' '));
  const listing = execFileSync('tar', ['tzf', archive], { encoding: 'utf8' });
  const status = execFileSync('tar', ['xzOf', archive, ...listing.split('\n').filter((line) => line.endsWith('/status.json'))], { encoding: 'utf8' });
  t.true((JSON.parse(status) as { connected: boolean }).connected);
});

test.serial('tp quit removes the container, the API relay and the connection\'s files', async (t) => {
  await laptop.tp(['quit', '--use', NAME]);
  const { stdout: ps } = await laptop.run('docker', ['ps', '-a', '--format', '{{.Names}}']);
  t.false(ps.split('\n').includes(CONTAINER), ps);
  const companions = (await laptop.run('ps', ['-eo', 'args'])).stdout.split('\n').filter((line) => line.includes('docker api-relay'));
  t.deepEqual(companions.filter((line) => line.includes(`/docker/${NAME} `) || line.endsWith(`/docker/${NAME}`)), []);
  t.false(existsSync(join(laptop.home, 'state', 'tp', 'docker', NAME)));
  const { stdout } = await laptop.tp(['status']);
  t.regex(stdout, /Not connected/);
});
