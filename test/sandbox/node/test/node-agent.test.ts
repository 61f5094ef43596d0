import test from 'ava';
import type { V1Pod } from '@kubernetes/client-node';
import { podNetnsName } from '../names.js';
import { dialPod, PodDialError } from '../pod-dialer.js';
import { eventually, startTestCluster, type TestCluster } from './cluster-harness.js';
import { inNetns, startSocat } from './net-helpers.js';

let cluster: TestCluster;

test.before(async () => {
  cluster = await startTestCluster('tpagt');
});
test.after.always(async () => {
  await cluster?.close();
});

async function dig(netns: string, ...args: string[]): Promise<string> {
  return (await inNetns(netns, ['dig', '@198.18.0.1', '+time=3', '+tries=1', ...args])).trim();
}

async function createPod(name: string, extra: Partial<V1Pod['spec']> = {}): Promise<V1Pod> {
  await cluster.core.createNamespacedPod({ namespace: 'default', body: {
    metadata: { name, labels: { app: name } },
    spec: { containers: [{ name: 'main', image: 'busybox', command: ['sleep', '300'] }], terminationGracePeriodSeconds: 1, ...extra },
  } });
  return eventually(async () => {
    const pod = await cluster.core.readNamespacedPod({ namespace: 'default', name });
    return pod.status?.phase === 'Running' && pod.status.podIP ? pod : undefined;
  });
}

test.serial('cluster DNS answers services, headless services, SRV and pod hostnames from a pod', async (t) => {
  const pod = await createPod('dns-client', { hostname: 'web-0', subdomain: 'web' });
  const netns = podNetnsName(cluster.network.prefix, pod.metadata!.uid!);
  await cluster.core.createNamespacedService({ namespace: 'default', body: {
    metadata: { name: 'echo' }, spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  } });
  const echo = await cluster.core.readNamespacedService({ namespace: 'default', name: 'echo' });
  await cluster.core.createNamespacedService({ namespace: 'default', body: {
    metadata: { name: 'web' }, spec: { clusterIP: 'None', selector: { app: 'dns-client' }, ports: [{ name: 'http', port: 80 }] },
  } });
  await cluster.core.createNamespacedEndpoints({ namespace: 'default', body: {
    metadata: { name: 'web' }, subsets: [{ addresses: [{ ip: pod.status!.podIP!, hostname: 'web-0' }], ports: [{ name: 'http', port: 80 }] }],
  } });

  const clusterIP = await eventually<string>(async () => (await dig(netns, '+short', 'echo.default.svc.cluster.local')) || undefined);
  t.is(clusterIP, String(echo.spec?.clusterIP));
  t.is(await eventually<string>(async () => (await dig(netns, '+short', 'web.default.svc.cluster.local')) || undefined), String(pod.status?.podIP));
  t.is(await dig(netns, '+short', 'web-0.web.default.svc.cluster.local'), String(pod.status?.podIP));
  t.is(await dig(netns, '+short', 'SRV', '_http._tcp.echo.default.svc.cluster.local'), '0 100 80 echo.default.svc.cluster.local.');
  t.is(await dig(netns, '+short', 'SRV', '_http._tcp.web.default.svc.cluster.local'), '0 100 80 web-0.web.default.svc.cluster.local.');
  t.is(await dig(netns, '+short', '-x', String(echo.spec?.clusterIP)), 'echo.default.svc.cluster.local.');
  t.is(await dig(netns, '+short', 'kubernetes.default.svc.cluster.local'), '198.19.0.1');
  t.regex(await dig(netns, 'AAAA', 'echo.default.svc.cluster.local'), /status: NOERROR[\s\S]*ANSWER: 0/);
  t.regex(await dig(netns, 'nothere.default.svc.cluster.local'), /status: NXDOMAIN/);
  t.regex(await dig(netns, '+tcp', 'nothere.default.svc.cluster.local'), /status: NXDOMAIN/, 'DNS over TCP too');
  // Through the kube-dns ClusterIP and the pod's resolv.conf search path, as pods resolve.
  t.is((await inNetns(netns, ['dig', '+short', '+search', 'echo'])).trim(), String(echo.spec?.clusterIP));
});

test.serial('a name outside the cluster fails fast with SERVFAIL (no internet here)', async (t) => {
  const pod = await createPod('dns-out');
  const netns = podNetnsName(cluster.network.prefix, pod.metadata!.uid!);
  const started = Date.now();
  t.regex(await dig(netns, 'example.com'), /status: SERVFAIL/);
  t.true(Date.now() - started < 3000);
});

test.serial('the API forwarder reaches the API server from a pod with end-to-end TLS', async (t) => {
  const pod = await createPod('api-client');
  const netns = podNetnsName(cluster.network.prefix, pod.metadata!.uid!);
  const out = await inNetns(netns, ['curl', '-sS', '--cacert', `${cluster.stateDir}/ca.crt`, 'https://198.19.0.1/healthz']);
  t.is(out.trim(), 'ok');
});

test.serial('the pod dialer connects root-netns code to a pod port, and reports refusals', async (t) => {
  const pod = await createPod('dial-target');
  const netns = podNetnsName(cluster.network.prefix, pod.metadata!.uid!);
  const server = await startSocat(netns, 'TCP-LISTEN:7000,reuseaddr,fork', 'SYSTEM:echo dialed');
  t.teardown(() => { server.kill('SIGKILL'); });
  const socket = await dialPod(cluster.agentSocket, pod.status!.podIP!, 7000);
  const reply = await new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    socket.on('end', () => resolve(text));
  });
  t.is(reply.trim(), 'dialed');
  const error = await t.throwsAsync(dialPod(cluster.agentSocket, pod.status!.podIP!, 7001), { instanceOf: PodDialError });
  t.is(error!.code, 'ECONNREFUSED');
  const bad = await t.throwsAsync(dialPod(cluster.agentSocket, 'not-an-ip', 1), { instanceOf: PodDialError });
  t.is(bad!.code, 'BAD_REQUEST');
});
