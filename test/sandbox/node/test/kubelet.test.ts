import test from 'ava';
import { execFile } from 'node:child_process';
import type { V1Pod } from '@kubernetes/client-node';
import { podNetnsName } from '../names.js';
import { eventually, startTestCluster, type TestCluster } from './cluster-harness.js';
import { inNetns } from './net-helpers.js';

let cluster: TestCluster;
const NS = 'default';

test.before(async () => {
  cluster = await startTestCluster('tpklt');
});
test.after.always(async () => {
  await cluster?.close();
});

async function createPod(body: V1Pod): Promise<void> {
  await cluster.core.createNamespacedPod({ namespace: NS, body });
}

function readPod(name: string): Promise<V1Pod> {
  return cluster.core.readNamespacedPod({ namespace: NS, name });
}

async function logs(name: string, container: string, options: { previous?: boolean; tailLines?: number } = {}): Promise<string> {
  const stream = await cluster.kubelet.podLogs(NS, name, container, { follow: false, ...options });
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

test.serial('a pod gets env from a ConfigMap, a Secret and the downward API, and a working service-account token', async (t) => {
  await cluster.core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'settings' }, data: { colour: 'blue', 'app.conf': 'debug=true\n' } } });
  await cluster.core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'creds' }, data: { password: Buffer.from('s3cret').toString('base64') } } });
  const script = [
    'echo "colour=$COLOUR password=$PASSWORD pod=$POD_NAME ns=$POD_NAMESPACE ip=$POD_IP app=$APP greeting=$GREETING host=$HOSTNAME"',
    'echo "k8s=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT cfg_colour=$CFG_colour"',
    'cat /etc/settings/app.conf',
    'curl -sS --cacert /var/run/secrets/kubernetes.io/serviceaccount/ca.crt -H "Authorization: Bearer $(cat /var/run/secrets/kubernetes.io/serviceaccount/token)" https://kubernetes.default.svc/api -o /dev/null -w "api=%{http_code}\\n"',
    'sleep 300',
  ].join('; ');
  await createPod({
    metadata: { name: 'env-pod', labels: { app: 'envy' } },
    spec: {
      terminationGracePeriodSeconds: 1,
      volumes: [{ name: 'settings', configMap: { name: 'settings' } }],
      containers: [{
        name: 'main', image: 'busybox:1.36', command: ['sh', '-c', script],
        envFrom: [{ prefix: 'CFG_', configMapRef: { name: 'settings' } }],
        env: [
          { name: 'COLOUR', valueFrom: { configMapKeyRef: { name: 'settings', key: 'colour' } } },
          { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
          { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
          { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: 'GREETING', value: 'hello-$(POD_NAME)' },
        ],
        volumeMounts: [{ name: 'settings', mountPath: '/etc/settings' }],
      }],
    },
  });
  const pod = await eventually(async () => { const p = await readPod('env-pod'); return p.status?.phase === 'Running' ? p : undefined; });
  t.is(pod.spec?.nodeName, 'sandbox-node');
  const output = await eventually(async () => { const out = await logs('env-pod', 'main'); return out.includes('api=') ? out : undefined; });
  t.true(output.includes(`colour=blue password=s3cret pod=env-pod ns=default ip=${pod.status!.podIP} app=envy greeting=hello-env-pod host=env-pod`), output);
  t.true(output.includes('k8s=198.19.0.1:443 cfg_colour=blue'), output);
  t.true(output.includes('debug=true'), output);
  t.true(output.includes('api=200'), output);
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  t.is(ready?.status, 'True', 'no readiness probe: ready once started');
});

test.serial('a ConfigMap volume has the atomic writer\'s ..data symlink and follows an update of the ConfigMap', async (t) => {
  await cluster.core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'live' }, data: { colour: 'red' } } });
  await createPod({
    metadata: { name: 'live-pod' },
    spec: {
      terminationGracePeriodSeconds: 1,
      volumes: [{ name: 'live', configMap: { name: 'live' } }],
      containers: [{
        name: 'main', image: 'busybox', volumeMounts: [{ name: 'live', mountPath: '/etc/live' }],
        command: ['sh', '-c', 'while true; do echo "colour=$(cat /etc/live/colour) link=$(readlink /etc/live/colour) data=$(readlink /etc/live/..data)"; sleep 0.3; done'],
      }],
    },
  });
  const first = await eventually(async () => { const out = await logs('live-pod', 'main'); return out.includes('colour=red') ? out : undefined; });
  t.regex(first, /colour=red link=\.\.data\/colour data=\.\.\d{4}_/);
  const before = /data=(\S+)/.exec(first)![1];
  await cluster.core.replaceNamespacedConfigMap({ namespace: NS, name: 'live', body: { metadata: { name: 'live' }, data: { colour: 'green' } } });
  const after = await eventually(async () => { const out = await logs('live-pod', 'main'); return out.includes('colour=green') ? out : undefined; });
  const swapped = /colour=green link=\.\.data\/colour data=(\S+)/.exec(after);
  t.truthy(swapped, after);
  t.not(swapped![1], before, '..data points at a new timestamped dir');
});

test.serial('an httpGet readiness probe drives the Ready condition', async (t) => {
  await createPod({
    metadata: { name: 'echo-pod' },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{
        name: 'echo', image: 'tp/echo-server:latest', env: [{ name: 'PORT', value: '8080' }],
        ports: [{ name: 'http', containerPort: 8080 }],
        readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
      }],
    },
  });
  const running = await eventually(async () => { const p = await readPod('echo-pod'); return p.status?.phase === 'Running' ? p : undefined; });
  t.is(running.status?.containerStatuses?.[0].ready, false, 'not ready before the probe passes');
  const ready = await eventually(async () => { const p = await readPod('echo-pod'); return p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? p : undefined; });
  t.true(ready.status!.containerStatuses![0].ready);
  const netns = podNetnsName(cluster.network.prefix, ready.metadata!.uid!);
  const body = JSON.parse(await inNetns(netns, ['curl', '-sS', `http://${ready.status!.podIP}:8080/x`])) as { pod: string; path: string };
  t.deepEqual([body.pod, body.path], ['echo-pod', '/x']);
});

test.serial('a crashing container is restarted with a growing restartCount and its previous logs kept', async (t) => {
  await createPod({
    metadata: { name: 'crasher' },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'busybox', command: ['sh', '-c', 'echo run; exit 3'] }] },
  });
  const pod = await eventually(async () => { const p = await readPod('crasher'); return (p.status?.containerStatuses?.[0].restartCount ?? 0) >= 2 ? p : undefined; });
  const status = pod.status!.containerStatuses![0];
  t.is(status.lastState?.terminated?.exitCode, 3);
  t.is(status.lastState?.terminated?.reason, 'Error');
  t.is((await logs('crasher', 'main', { previous: true })).trim(), 'run');
  const waiting = await eventually(async () => {
    const reason = (await readPod('crasher')).status?.containerStatuses?.[0].state?.waiting?.reason;
    return reason === 'CrashLoopBackOff' ? reason : undefined;
  });
  t.is(waiting, 'CrashLoopBackOff');
});

test.serial('an unknown image leaves the pod Pending with ErrImagePull', async (t) => {
  await createPod({ metadata: { name: 'no-image' }, spec: { containers: [{ name: 'main', image: 'example.com/nothing:1' }] } });
  const pod = await eventually(async () => { const p = await readPod('no-image'); return p.status?.containerStatuses?.[0].state?.waiting ? p : undefined; });
  t.is(pod.status!.phase, 'Pending');
  t.is(pod.status!.containerStatuses![0].state!.waiting!.reason, 'ErrImagePull');
});

test.serial('deleting a pod kills its processes and removes its network', async (t) => {
  await createPod({ metadata: { name: 'doomed' }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'busybox', command: ['sleep', '300'] }] } });
  const pod = await eventually(async () => { const p = await readPod('doomed'); return p.status?.phase === 'Running' ? p : undefined; });
  const netns = podNetnsName(cluster.network.prefix, pod.metadata!.uid!);
  const pids = (await new Promise<string>((resolve) => execFile('ip', ['netns', 'pids', netns], (_e, out) => resolve(out)))).trim().split('\n').filter(Boolean);
  t.true(pids.length > 0);
  await cluster.core.deleteNamespacedPod({ namespace: NS, name: 'doomed' });
  await eventually(async () => !(await new Promise<string>((resolve) => execFile('ip', ['netns', 'list'], (_e, out) => resolve(out)))).includes(netns));
  for (const pid of pids) t.throws(() => process.kill(Number(pid), 0));
});

/** A TCP server on :8080 that answers "alive" and only logs SIGTERM: it lives until SIGKILL. */
const STUBBORN_SERVER = [
  'import signal, socketserver',
  'signal.signal(signal.SIGTERM, lambda *_: print("got SIGTERM", flush=True))',
  'class Alive(socketserver.BaseRequestHandler):',
  '    def handle(self): self.request.sendall(b"alive\\n")',
  'socketserver.TCPServer.allow_reuse_address = True',
  'print("serving", flush=True)',
  'socketserver.TCPServer(("0.0.0.0", 8080), Alive).serve_forever()',
].join('\n');

test.serial('a deleted pod terminates gracefully: it stays, marked, and serves after SIGTERM until SIGKILL at the end of its grace period', async (t) => {
  await createPod({ metadata: { name: 'stubborn' }, spec: { terminationGracePeriodSeconds: 8, containers: [{ name: 'main', image: 'busybox', command: ['python3', '-u', '-c', STUBBORN_SERVER] }] } });
  const pod = await eventually(async () => { const p = await readPod('stubborn'); return p.status?.phase === 'Running' && (await logs('stubborn', 'main')).includes('serving') ? p : undefined; });
  const ask = () => inNetns(cluster.network.nodeNetns, ['socat', '-t5', '-T2', '-', `TCP:${pod.status!.podIP}:8080`], '');
  t.is((await eventually(async () => (await ask()).trim() || undefined)), 'alive');

  await cluster.core.deleteNamespacedPod({ namespace: NS, name: 'stubborn' });
  const marked = await readPod('stubborn');
  t.truthy(marked.metadata?.deletionTimestamp);
  t.is(marked.metadata?.deletionGracePeriodSeconds, 8, "the pod's terminationGracePeriodSeconds");
  await eventually(async () => (await logs('stubborn', 'main')).includes('got SIGTERM'));
  t.is((await ask()).trim(), 'alive', 'after SIGTERM the process still has its IP and answers');
  t.truthy((await readPod('stubborn')).metadata?.deletionTimestamp, 'and the pod object is still there');

  const gone = await eventually(async () => {
    try {
      await readPod('stubborn');
      return false;
    } catch (error) {
      return (error as { code?: number }).code === 404;
    }
  }, 30_000);
  t.true(gone, 'removed once SIGKILL ended it');
  await t.throwsAsync(ask(), undefined, 'and its address no longer answers');
});

test.serial('a delete with grace period 0 removes the pod object at once and kills its processes', async (t) => {
  await createPod({ metadata: { name: 'forced' }, spec: { containers: [{ name: 'main', image: 'busybox', command: ['python3', '-u', '-c', STUBBORN_SERVER] }] } });
  const pod = await eventually(async () => { const p = await readPod('forced'); return p.status?.phase === 'Running' ? p : undefined; });
  const netns = podNetnsName(cluster.network.prefix, pod.metadata!.uid!);
  await cluster.core.deleteNamespacedPod({ namespace: NS, name: 'forced', gracePeriodSeconds: 0 });
  const error = await t.throwsAsync(readPod('forced'));
  t.is((error as { code?: number }).code, 404);
  const removed = await eventually(async () => !(await new Promise<string>((resolve) => execFile('ip', ['netns', 'list'], (_e, out) => resolve(out)))).includes(netns), 20_000);
  t.true(removed, 'its processes were killed and its network removed');
});
