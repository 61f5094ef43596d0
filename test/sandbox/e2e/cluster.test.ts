// End-to-end tests against the running sandbox (started by run-tests.ts): the demo manifests roll
// out, pods reach services and pods by name and IP, cluster DNS answers, the host cannot reach the
// cluster network, workloads heal and roll, kubectl's everyday commands work, port-forward and the
// in-cluster config of client-node work. Serial: they share the demo workloads.
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { PortForward } from '@kubernetes/client-node';
import { execAsUser } from '../../helpers/unprivileged.js';
import { CHECKOUT } from '../state.js';
import { appsApi, coreApi, execInPod, kubeConfig, kubectl, readyPods, waitFor } from './sandbox-client.js';

const DEMO_DIR = path.join(CHECKOUT, 'test/sandbox/demo');
const IN_CLUSTER_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'in-cluster-list.mjs');
const CLIENT = 'e2e-client';
const REVISION = 'deployment.kubernetes.io/revision';
const SA_CA = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt';

function clientPod(): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: CLIENT, labels: { app: CLIENT } },
    spec: { containers: [{ name: 'main', image: 'debian:12', command: ['sleep', 'infinity'] }] },
  };
}

async function curlInPod(url: string, extra: string[] = []): Promise<{ pod: string }> {
  const result = await execInPod(CLIENT, ['curl', '-sS', '-m', '5', ...extra, url]);
  if (result.code !== 0) throw new Error(`curl ${url} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as { pod: string };
}

test.before(async () => {
  await kubectl(['apply', '-f', DEMO_DIR]);
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify(clientPod()) });
  for (const name of ['hello', 'tls-echo', 'tcp-echo']) {
    await kubectl(['rollout', 'status', `deployment/${name}`, '--timeout=60s'], { timeoutMs: 70_000 });
  }
  await kubectl(['wait', '--for=condition=Ready', `pod/${CLIENT}`, '--timeout=30s']);
  // kube-proxy follows the Endpoints a moment after the rollout, as on a real node.
  for (const target of ['hello.default:80', 'tls-echo.default:443', 'tcp-echo.default:9000']) {
    await waitFor(`${target} to take connections`, async () => (await execInPod(CLIENT, ['socat', '-T1', '/dev/null', `TCP:${target},connect-timeout=1`])).code === 0);
  }
});

test.serial('a pod reaches the hello service by its namespaced and its short name', async (t) => {
  const helloPods = (await readyPods('app=hello')).map((p) => p.metadata!.name!);
  t.is(helloPods.length, 2);
  for (const url of ['http://hello.default/', 'http://hello/', 'http://hello.default.svc.cluster.local/']) {
    const answer = await curlInPod(url);
    t.true(helloPods.includes(answer.pod), `${url} answered from ${answer.pod}`);
  }
});

test.serial('a pod reaches another pod by its IP', async (t) => {
  const [target] = await readyPods('app=hello');
  const answer = await curlInPod(`http://${target!.status!.podIP}:8080/`);
  t.is(answer.pod, target!.metadata!.name ?? '');
});

test.serial('the TLS echo service answers with a certificate for its cluster name, and TCP echo echoes', async (t) => {
  const answer = await curlInPod('https://tls-echo.default.svc.cluster.local/', ['--cacert', SA_CA]);
  t.regex(answer.pod, /^tls-echo-/);
  const echo = await execInPod(CLIENT, ['sh', '-c', 'printf "ping-e2e" | socat -t 2 - TCP:tcp-echo.default:9000']);
  t.is(echo.stdout, 'ping-e2e', echo.stderr);
});

test.serial('cluster DNS answers A, SRV and headless queries', async (t) => {
  const svc = await coreApi().readNamespacedService({ name: 'hello', namespace: 'default' });
  const a = await execInPod(CLIENT, ['dig', '+short', 'hello.default.svc.cluster.local', 'A']);
  t.is(a.stdout.trim(), svc.spec?.clusterIP ?? '');
  const searched = await execInPod(CLIENT, ['dig', '+short', '+search', 'hello', 'A']);
  t.is(searched.stdout.trim(), svc.spec?.clusterIP ?? '');
  const srv = await execInPod(CLIENT, ['dig', '+short', '_http._tcp.hello.default.svc.cluster.local', 'SRV']);
  t.regex(srv.stdout, /\b80 hello\.default\.svc\.cluster\.local\.$/m);

  await kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'hello-headless' }, spec: { clusterIP: 'None', selector: { app: 'hello' }, ports: [{ name: 'http', port: 8080 }] } }),
  });
  t.teardown(() => kubectl(['delete', 'service', 'hello-headless', '--ignore-not-found']).then(() => undefined));
  const podIps = (await readyPods('app=hello')).map((p) => p.status!.podIP!).sort();
  const headless = await waitFor('headless A records for both pods', async () => {
    const answer = await execInPod(CLIENT, ['dig', '+short', 'hello-headless.default.svc.cluster.local', 'A']);
    const ips = answer.stdout.trim().split('\n').filter(Boolean).sort();
    return ips.join() === podIps.join() && ips;
  });
  t.deepEqual(headless, podIps);
});

test.serial('the host, as an unprivileged user, reaches neither a pod IP nor a service name', async (t) => {
  const [target] = await readyPods('app=hello');
  const started = Date.now();
  const byIp = await execAsUser('curl', ['-sS', '-m', '5', `http://${target!.status!.podIP}:8080/`]).then(() => 'answered', (e: { code?: number }) => e.code);
  t.not(byIp, 'answered');
  t.true(Date.now() - started < 4_000, 'the unreachable route fails at once rather than timing out');
  const byName = await execAsUser('curl', ['-sS', '-m', '5', 'http://hello.default.svc.cluster.local/']).then(() => 'answered', (e: { code?: number }) => e.code);
  t.is(byName, 6, 'curl cannot resolve the cluster name (exit 6)');
});

test.serial('kubectl logs, get, describe, scale, expose and delete work', async (t) => {
  const [pod] = await readyPods('app=hello');
  t.regex(await kubectl(['logs', pod!.metadata!.name!]), /listening/);
  t.regex(await kubectl(['get', 'pods', '-o', 'wide']), /hello-.*Running/);
  t.regex(await kubectl(['describe', 'deployment', 'hello']), /Replicas:\s+2 desired \| 2 updated \| 2 total \| 2 available/);

  await kubectl(['scale', 'deployment/tcp-echo', '--replicas=2']);
  await waitFor('2 ready tcp-echo pods', async () => (await readyPods('app=tcp-echo')).length === 2);
  await kubectl(['expose', 'deployment', 'tcp-echo', '--name', 'tcp-echo-2', '--port', '9001', '--target-port', '9000']);
  const echo = await waitFor('the exposed service to echo', async () => {
    const r = await execInPod(CLIENT, ['sh', '-c', 'printf "via-expose" | socat -t 2 - TCP:tcp-echo-2:9001']);
    return r.stdout === 'via-expose' && r.stdout;
  });
  t.is(echo, 'via-expose');
  await kubectl(['delete', 'service', 'tcp-echo-2']);
  await kubectl(['scale', 'deployment/tcp-echo', '--replicas=1']);
  await waitFor('tcp-echo back to 1 pod', async () => (await coreApi().listNamespacedPod({ namespace: 'default', labelSelector: 'app=tcp-echo' })).items.length === 1);
  t.regex(await kubectl(['get', 'services']), /^(?!.*tcp-echo-2)[\s\S]*$/);
});

test.serial('a port-forward through client-node reaches a hello pod', async (t) => {
  const [pod] = await readyPods('app=hello');
  const forward = new PortForward(kubeConfig());
  const server = net.createServer((socket) => {
    forward.portForward('default', pod!.metadata!.name!, [8080], socket, null, socket).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as net.AddressInfo;
  const body = await new Promise<string>((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/through-forward', agent: false, timeout: 10_000 }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve(text));
    });
    request.on('timeout', () => request.destroy(new Error('no answer through the port-forward within 10 s')));
    request.on('error', reject);
  });
  const answer = JSON.parse(body) as { pod: string; path: string };
  t.is(answer.pod, pod!.metadata!.name ?? '');
  t.is(answer.path, '/through-forward');
});

test.serial('client-node in-cluster config works from inside a pod with a service-account token', async (t) => {
  const manifest = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'e2e-reader' } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'e2e-reader' }, rules: [{ apiGroups: [''], resources: ['services'], verbs: ['list'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'e2e-reader' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'e2e-reader' }, subjects: [{ kind: 'ServiceAccount', name: 'e2e-reader', namespace: 'default' }] },
    {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'e2e-in-cluster' },
      spec: { serviceAccountName: 'e2e-reader', restartPolicy: 'Never', containers: [{ name: 'main', image: 'debian:12', command: [process.execPath, IN_CLUSTER_SCRIPT] }] },
    },
  ];
  for (const item of manifest) await kubectl(['apply', '-f', '-'], { input: JSON.stringify(item) });
  t.teardown(() => kubectl(['delete', 'pod', 'e2e-in-cluster', '--ignore-not-found']).then(() => undefined));
  const phase = await waitFor('the in-cluster pod to finish', async () => {
    const pod = await coreApi().readNamespacedPod({ name: 'e2e-in-cluster', namespace: 'default' });
    return (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') && pod.status.phase;
  });
  const logs = await kubectl(['logs', 'e2e-in-cluster']);
  t.is(phase, 'Succeeded', logs);
  t.regex(logs, /^service hello$/m);
  t.regex(logs, /^service kubernetes$/m);
});

test.serial('a deleted pod is replaced', async (t) => {
  const before = (await readyPods('app=hello')).map((p) => p.metadata!.name!);
  await kubectl(['delete', 'pod', before[0]!]);
  const after = await waitFor('two ready hello pods again', async () => {
    const names = (await readyPods('app=hello')).map((p) => p.metadata!.name!);
    return names.length === 2 && !names.includes(before[0]!) && names;
  });
  t.true(after.includes(before[1]!));
});

test.serial('a template change rolls every pod and rollout status succeeds', async (t) => {
  const before = (await readyPods('app=hello')).map((p) => p.metadata!.name!);
  const revisionBefore = Number((await appsApi().readNamespacedDeployment({ name: 'hello', namespace: 'default' })).metadata?.annotations?.[REVISION]);
  await kubectl(['set', 'env', 'deployment/hello', `E2E_ROLL=${Date.now()}`]);
  const status = await kubectl(['rollout', 'status', 'deployment/hello', '--timeout=60s'], { timeoutMs: 70_000 });
  t.regex(status, /successfully rolled out/);
  const after = (await readyPods('app=hello')).map((p) => p.metadata!.name!);
  t.is(after.length, 2);
  t.false(after.some((name) => before.includes(name)), `new pods ${after.join()} replace ${before.join()}`);
  // kube-proxy applies the new Endpoints a moment after the rollout ends (about 1 s, as on a real
  // node), so a connection right then may still go to an old pod that is gone or terminating.
  const answer = await waitFor('the Service to answer from a new pod', async () => {
    const reply = await curlInPod('http://hello/', ['-m', '2']);
    return after.includes(reply.pod) && reply;
  });
  t.true(after.includes(answer.pod));
  const revisionAfter = Number((await appsApi().readNamespacedDeployment({ name: 'hello', namespace: 'default' })).metadata?.annotations?.[REVISION]);
  t.true(revisionAfter > revisionBefore, `revision ${revisionBefore} → ${revisionAfter}`);
  t.regex(await kubectl(['rollout', 'history', 'deployment/hello']), new RegExp(`^${revisionAfter}\\s`, 'm'));
});
