import test from 'ava';
import net from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import WebSocket from 'ws';
import { startTestCluster, statusOf, type TestCluster } from './helpers.js';
import type { PodLogOptions } from '../server.js';

let cluster: TestCluster;
let core: k8s.CoreV1Api;
let echo: net.Server;
const dialed: string[] = [];
const logCalls: { pod: string; container: string; options: PodLogOptions }[] = [];

test.before(async () => {
  echo = net.createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const echoPort = (echo.address() as net.AddressInfo).port;
  cluster = await startTestCluster({
    hooks: {
      async dialPod(podIP, port) {
        dialed.push(`${podIP}:${port}`);
        if (port !== 8080) throw new Error(`connect ECONNREFUSED ${podIP}:${port}`);
        return net.connect(echoPort, '127.0.0.1');
      },
      async podLogs(_namespace, pod, container, options) {
        logCalls.push({ pod, container, options });
        if (pod === 'no-logs') throw Object.assign(new Error('no logs yet'), { statusCode: 404 });
        return Readable.from([`line 1 from ${container}\n`, 'line 2\n']);
      },
    },
  });
  core = cluster.kubeConfig().makeApiClient(k8s.CoreV1Api);
  for (const name of ['runner', 'no-logs']) {
    const pod = await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name }, spec: { containers: [{ name: 'main', image: 'tp/tcp-echo:1' }] } } });
    await core.replaceNamespacedPodStatus({ name, namespace: 'default', body: { ...pod, status: { phase: 'Running', podIP: '198.18.0.7' } } });
  }
  await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'pending' }, spec: { containers: [{ name: 'main', image: 'busybox' }] } } });
  await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'two' }, spec: { containers: [{ name: 'a', image: 'busybox' }, { name: 'b', image: 'busybox' }] } } });
});
test.after.always(async () => {
  await cluster?.close();
  await new Promise((resolve) => echo?.close(resolve));
});

test.serial('client-node PortForward carries bytes both ways through the dialPod hook', async (t) => {
  const forward = new k8s.PortForward(cluster.kubeConfig());
  const input = new PassThrough();
  const output = new PassThrough();
  const errors = new PassThrough();
  const ws = await forward.portForward('default', 'runner', [8080], output, errors, input) as WebSocket;
  t.teardown(() => ws.close());
  let received = '';
  const done = new Promise<void>((resolve) => output.on('data', (chunk: Buffer) => {
    received += chunk.toString();
    if (received.length >= 11) resolve();
  }));
  input.write('hello ');
  input.write('world');
  await done;
  t.is(received, 'hello world');
  t.deepEqual(dialed.at(-1), '198.18.0.7:8080');
  t.is(ws.protocol, 'v4.channel.k8s.io');
});

test.serial('a refused dial is reported on the error channel', async (t) => {
  const forward = new k8s.PortForward(cluster.kubeConfig());
  const errors = new PassThrough();
  const closed = new Promise<void>((resolve) => errors.once('data', () => resolve()));
  let text = '';
  errors.on('data', (c: Buffer) => (text += c.toString()));
  const ws = await forward.portForward('default', 'runner', [9999], new PassThrough(), errors, new PassThrough()) as WebSocket;
  t.teardown(() => ws.close());
  await closed;
  t.regex(text, /error forwarding port 9999 to pod runner: connect ECONNREFUSED/);
});

test('the raw channel protocol sends port prefixes on each channel, for several ports', async (t) => {
  const url = `${cluster.server.url.replace('https', 'wss')}/api/v1/namespaces/default/pods/runner/portforward?ports=8080&ports=9999`;
  const ws = new WebSocket(url, ['v4.channel.k8s.io'], { ca: cluster.caCert, headers: { Authorization: `Bearer ${cluster.adminToken}` } });
  t.teardown(() => ws.close());
  const frames: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (data: Buffer) => {
      frames.push(data);
      if (frames.length === 5) resolve();
    });
    ws.on('error', reject);
  });
  t.deepEqual(frames.slice(0, 4).map((f) => [f[0], f.readUInt16LE(1)]), [[0, 8080], [1, 8080], [2, 9999], [3, 9999]]);
  t.is(frames[4][0], 3);
  t.regex(frames[4].subarray(1).toString(), /port 9999/);
});

test('port-forward to a pod that is not running, or without permission, fails before the upgrade', async (t) => {
  const attempt = async (kc: k8s.KubeConfig, pod: string): Promise<string> => {
    try {
      const ws = await new k8s.PortForward(kc).portForward('default', pod, [8080], new PassThrough(), new PassThrough(), new PassThrough()) as WebSocket;
      ws.close();
      return 'connected';
    } catch (error) {
      return String((error as { message?: string }).message);
    }
  };
  t.is(await attempt(cluster.kubeConfig(), 'pending'), 'Unexpected server response: 400');
  t.is(await attempt(cluster.kubeConfig(), 'ghost'), 'Unexpected server response: 404');
  t.is(await attempt(cluster.kubeConfig('bad-token'), 'runner'), 'Unexpected server response: 401');
  const sa = (await core.createNamespacedServiceAccountToken({ namespace: 'default', name: 'default', body: { spec: { audiences: [] } } })).status?.token ?? '';
  t.is(await attempt(cluster.kubeConfig(sa), 'runner'), 'Unexpected server response: 403');
});

test('pod logs stream through the podLogs hook with the query options', async (t) => {
  const log = new k8s.Log(cluster.kubeConfig());
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  await new Promise<void>((resolve, reject) => {
    void log.log('default', 'runner', '', out, { follow: false, tailLines: 5, timestamps: true }).then((req) => {
      out.on('end', resolve);
      return req;
    }, reject);
    out.on('finish', resolve);
  });
  t.is(text, 'line 1 from main\nline 2\n');
  t.like(logCalls.find((c) => c.pod === 'runner')?.options, { follow: false, tailLines: 5, timestamps: true });
});

test('logs need a container name for multi-container pods, and a hook 404 is a 404', async (t) => {
  const two = statusOf(await t.throwsAsync(core.readNamespacedPodLog({ name: 'two', namespace: 'default' })));
  t.is(two.code, 400);
  t.is(two.message, 'a container name must be specified for pod two, choose one of: [a b]');
  t.is(await core.readNamespacedPodLog({ name: 'two', namespace: 'default', container: 'b' }), 'line 1 from b\nline 2\n');
  t.is(statusOf(await t.throwsAsync(core.readNamespacedPodLog({ name: 'no-logs', namespace: 'default' }))).code, 404);
  const limited = await core.readNamespacedPodLog({ name: 'runner', namespace: 'default', limitBytes: 4 });
  t.is(limited, 'line');
});
