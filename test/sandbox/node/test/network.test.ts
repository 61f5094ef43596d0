import test from 'ava';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanUpStale, setUpNodeNetwork, type NodeNetwork } from '../network.js';
import { hostUnreachableRoute, inNetns, otherNodeNetnsExists, startSocat, traces } from './net-helpers.js';

const PREFIX = 'tpnet';

async function connectFromHost(ip: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: ip, port, timeout: 3000 });
    socket.once('connect', () => { socket.destroy(); resolve('connected'); });
    socket.once('timeout', () => { socket.destroy(); resolve('timeout'); });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

let network: NodeNetwork;
let stateDir: string;

test.before(async () => {
  await cleanUpStale(PREFIX);
  stateDir = mkdtempSync(join(tmpdir(), 'tp-node-net-'));
  network = await setUpNodeNetwork({ prefix: PREFIX, stateDir });
});

test.after.always(async () => {
  await network?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

test.serial('two pods on the bridge reach each other and services DNAT to pods, hairpin included', async (t) => {
  const a = await network.createPodNetwork('pod-a');
  const b = await network.createPodNetwork('pod-b');
  t.not(a.ip, b.ip);
  const server = await startSocat(a.netns, 'TCP-LISTEN:8080,reuseaddr,fork', 'SYSTEM:echo pod-a');
  t.teardown(() => { server.kill('SIGKILL'); });

  t.is((await inNetns(b.netns, ['socat', '-t5', '-T2', '-', `TCP:${a.ip}:8080`], '')).trim(), 'pod-a');

  await network.syncServices([{ clusterIP: '198.19.0.20', port: 80, protocol: 'TCP', endpoints: [{ ip: a.ip, port: 8080 }], name: 'default/a:http' }]);
  t.is((await inNetns(b.netns, ['socat', '-t5', '-T2', '-', 'TCP:198.19.0.20:80'], '')).trim(), 'pod-a', 'another pod through the ClusterIP');
  t.is((await inNetns(a.netns, ['socat', '-t5', '-T2', '-', 'TCP:198.19.0.20:80'], '')).trim(), 'pod-a', 'the backend itself through its ClusterIP');
});

test.serial('a UDP service answers through the ClusterIP', async (t) => {
  const c = await network.createPodNetwork('pod-c');
  const d = await network.createPodNetwork('pod-d');
  const server = await startSocat(c.netns, 'UDP-RECVFROM:5353,fork', 'SYSTEM:echo udp-c');
  t.teardown(() => { server.kill('SIGKILL'); });
  await network.syncServices([{ clusterIP: '198.19.0.21', port: 53, protocol: 'UDP', endpoints: [{ ip: c.ip, port: 5353 }] }]);
  t.is((await inNetns(d.netns, ['socat', '-t5', '-T5', '-', 'UDP:198.19.0.21:53'], 'hi\n')).trim(), 'udp-c');
});

test.serial('a ClusterIP port without endpoints is refused at once', async (t) => {
  const e = await network.createPodNetwork('pod-e');
  await network.syncServices([{ clusterIP: '198.19.0.22', port: 80, protocol: 'TCP', endpoints: [] }]);
  const started = Date.now();
  const error = await t.throwsAsync(inNetns(e.netns, ['socat', '-t5', '-T5', '-', 'TCP:198.19.0.22:80'], ''));
  t.regex(error!.message, /Connection refused/);
  t.true(Date.now() - started < 4000, 'refused, not timed out');
});

test.serial('a ClusterIP port the Service does not define is dropped: the client times out', async (t) => {
  const e = await network.createPodNetwork('pod-e2');
  await network.syncServices([{ clusterIP: '198.19.0.23', port: 80, protocol: 'TCP', endpoints: [] }]);
  const error = await t.throwsAsync(inNetns(e.netns, ['socat', '-t5', '-T5', '-', 'TCP:198.19.0.23:81,connect-timeout=2'], ''));
  t.regex(error!.message, /Operation timed out|Connection timed out/);
  const unknownIp = await t.throwsAsync(inNetns(e.netns, ['socat', '-t5', '-T5', '-', 'TCP:198.19.0.99:80,connect-timeout=2'], ''));
  t.regex(unknownIp!.message, /Operation timed out|Connection timed out/, 'as is a service address no Service has');
});

test.serial('the host cannot reach pod IPs or ClusterIPs: attempts fail at once', async (t) => {
  const f = await network.createPodNetwork('pod-f');
  t.true(await hostUnreachableRoute());
  t.regex(await connectFromHost(f.ip, 8080), /^E(HOST|NET)UNREACH$/);
  t.regex(await connectFromHost('198.19.0.20', 80), /^E(HOST|NET)UNREACH$/);
});

test.serial('deleting a pod network frees its netns and its IP for later', async (t) => {
  const g = await network.createPodNetwork('pod-g');
  await network.deletePodNetwork('pod-g');
  t.false((await traces(PREFIX)).some((line) => line.includes(g.netns)));
  const again = await network.createPodNetwork('pod-g');
  t.not(again.ip, g.ip, 'a freed address is not handed out again at once');
});

test.serial('close() and cleanUpStale() leave nothing behind', async (t) => {
  await network.createPodNetwork('pod-h');
  await network.close();
  t.deepEqual(await traces(PREFIX), []);
  t.is(await hostUnreachableRoute(), await otherNodeNetnsExists(PREFIX));

  // A crashed sandbox: a network that is never closed, with a process left in a pod.
  const crashed = await setUpNodeNetwork({ prefix: PREFIX, stateDir });
  const pod = await crashed.createPodNetwork('pod-i');
  const server = await startSocat(pod.netns, 'TCP-LISTEN:9000,reuseaddr,fork', 'SYSTEM:echo x');
  const removed = await cleanUpStale(PREFIX);
  t.true(removed.includes(`netns ${pod.netns}`));
  t.true(removed.includes(`netns ${PREFIX}-node`));
  t.true(removed.some((line) => line.startsWith('process ')));
  if (server.exitCode === null && server.signalCode === null) await new Promise((resolve) => server.once('exit', resolve));
  t.deepEqual(await traces(PREFIX), []);
  t.deepEqual(await cleanUpStale(PREFIX), [], 'a second run finds nothing');
});
