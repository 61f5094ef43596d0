// tp in a cluster that holds it to its rules. (a) Pod Security: in namespaces that enforce the
// "restricted" profile, the traffic-manager installs and an intercept works, so the agent tp
// injects complies; uninstall leaves the workload as it was; a workload that itself breaks the
// profile gets the admission error from the controller's events, and is put back. (b) Credentials: a kubeconfig whose
// user holds no credentials (or whose context names no user) gets an answer that says so, not a
// vague "forbidden" or a TLS error.
import test from 'ava';
import { readFileSync, statSync, chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { kubectl } from './helpers/cluster.js';
import { withImages } from './helpers/images.js';
import { RUNNING_AS_ROOT } from '../helpers/unprivileged.js';
import { CHECKOUT, eventually, KUBECONFIG, newLaptop, type Laptop } from './helpers/laptop.js';
import { answeredBy, curlFromPod, localServer, specOf, type LocalServer } from './intercept/helpers.js';

const NAMESPACE = 'tp-psa';
const MANAGER_NAMESPACE = 'tp-psa-mgr';

let laptop: Laptop;
let server: LocalServer;

test.before(async () => {
  const manifests = withImages(readFileSync(join(CHECKOUT, 'test/e2e/fixtures/restricted-namespace.yaml.tmpl'), 'utf8'))
    .replaceAll('MANAGER_NAMESPACE', MANAGER_NAMESPACE).replaceAll('NAMESPACE', NAMESPACE);
  await kubectl(['apply', '-f', '-'], { input: manifests });
  await kubectl(['-n', NAMESPACE, 'rollout', 'status', 'deployment/web', '--timeout=90s'], { timeoutMs: 100_000 });
  await kubectl(['-n', NAMESPACE, 'wait', '--for=condition=Ready', 'pod/client', '--timeout=60s'], { timeoutMs: 70_000 });
  laptop = newLaptop('psa');
  server = await localServer('psa');
});

test.after.always(async () => {
  await laptop?.tp(['manager', 'uninstall', '--manager-namespace', MANAGER_NAMESPACE], { timeoutMs: 120_000 }).catch(() => undefined);
  await laptop?.cleanup();
  await server?.close();
  await kubectl(['delete', 'namespace', NAMESPACE, MANAGER_NAMESPACE, '--wait=false', '--ignore-not-found']).catch(() => undefined);
});

test.serial('in namespaces enforcing Pod Security "restricted", the manager installs, an intercept brings traffic to the laptop, and uninstall restores the workload', async (t) => {
  const before = [await specOf(NAMESPACE, 'deployment', 'web'), await specOf(NAMESPACE, 'service', 'web')];
  await laptop.tp(['manager', 'install', '--manager-namespace', MANAGER_NAMESPACE], { timeoutMs: 150_000 });
  await laptop.tp(['connect', '-n', NAMESPACE, '--manager-namespace', MANAGER_NAMESPACE], { timeoutMs: 120_000 });
  await laptop.tp(['intercept', 'web', '--port', String(server.port), '-n', NAMESPACE, '--manager-namespace', MANAGER_NAMESPACE], { timeoutMs: 180_000 });
  t.is(answeredBy(await curlFromPod(NAMESPACE, [`http://web.${NAMESPACE}/restricted`])), 'laptop psa');
  t.true(server.requests.some((r) => r.url === '/restricted'));

  await laptop.tp(['leave', 'web'], { timeoutMs: 60_000 });
  const { stdout } = await laptop.tp(['manager', 'uninstall', '--manager-namespace', MANAGER_NAMESPACE, '--output', 'json'], { timeoutMs: 120_000 });
  t.true((JSON.parse(stdout) as { removed: string[] }).removed.includes(`traffic-agent of Deployment ${NAMESPACE}/web`));
  t.deepEqual([await specOf(NAMESPACE, 'deployment', 'web'), await specOf(NAMESPACE, 'service', 'web')], before);
  await eventually(async () => {
    const by = answeredBy(await curlFromPod(NAMESPACE, [`http://web.${NAMESPACE}/`]));
    if (!by.startsWith('pod web-')) throw new Error(`answered by ${by}`);
  }, 60_000);
});

test.serial('a workload that breaks "restricted" itself: tp reports the admission error from the controller\'s events and puts the workload back, or keeps the injection when asked', async (t) => {
  const legacy = `${NAMESPACE}-legacy`;
  // It ran before the namespace started enforcing: its pods exist, new ones would be refused.
  await kubectl(['apply', '-f', '-'], { input: legacyManifests(legacy) });
  await kubectl(['-n', legacy, 'rollout', 'status', 'deployment/legacy', '--timeout=90s'], { timeoutMs: 100_000 });
  await kubectl(['label', 'namespace', legacy, 'pod-security.kubernetes.io/enforce=restricted']);
  const before = [await specOf(legacy, 'deployment', 'legacy'), await specOf(legacy, 'service', 'legacy')];
  try {
    await laptop.tp(['manager', 'install', '--manager-namespace', MANAGER_NAMESPACE], { timeoutMs: 150_000 });
    await laptop.tp(['connect', '-n', NAMESPACE, '--manager-namespace', MANAGER_NAMESPACE], { timeoutMs: 120_000 });
    const error = await laptop.tp(['intercept', 'legacy', '--port', String(server.port), '-n', legacy, '--manager-namespace', MANAGER_NAMESPACE, '--output', 'json'], { timeoutMs: 180_000 }).then(
      () => undefined, (err: unknown) => (JSON.parse((err as { stdout: string }).stdout) as { error: { code: string; message: string } }).error);
    if (!error) throw new Error('the intercept of a workload whose pods are refused succeeded');
    t.is(error.code, 'TP_ERR_INTERCEPT_PODS_REFUSED');
    t.regex(error.message, /violates PodSecurity "restricted/);
    t.regex(error.message, /securityContext comply/);
    await eventually(async () => {
      const now = [await specOf(legacy, 'deployment', 'legacy'), await specOf(legacy, 'service', 'legacy')];
      if (JSON.stringify(now) !== JSON.stringify(before)) throw new Error('the workload is not restored yet');
    }, 30_000);
    t.deepEqual([await specOf(legacy, 'deployment', 'legacy'), await specOf(legacy, 'service', 'legacy')], before);
    t.regex(error.message, /tp removed the traffic-agent again/);

    // Asked to keep it, tp leaves the refused injection for kubectl to look at; uninstall undoes it.
    const kept = await laptop.tp(['intercept', 'legacy', '--port', String(server.port), '-n', legacy, '--keep-failed-injection', '--manager-namespace', MANAGER_NAMESPACE, '--output', 'json'], { timeoutMs: 180_000 }).then(
      () => undefined, (err: unknown) => (JSON.parse((err as { stdout: string }).stdout) as { error: { code: string; message: string } }).error);
    if (!kept) throw new Error('the intercept of a workload whose pods are refused succeeded');
    t.is(kept.code, 'TP_ERR_INTERCEPT_PODS_REFUSED');
    t.regex(kept.message, /The traffic-agent stays in Deployment\/legacy, as asked; `tp uninstall --agent legacy -n /);
    const injected = await specOf(legacy, 'deployment', 'legacy');
    t.notDeepEqual(injected, before[0]);
    t.regex(JSON.stringify(injected), /traffic-agent/);
    await laptop.tp(['uninstall', '--agent', 'legacy', '-n', legacy, '--manager-namespace', MANAGER_NAMESPACE], { timeoutMs: 120_000 });
    t.deepEqual([await specOf(legacy, 'deployment', 'legacy'), await specOf(legacy, 'service', 'legacy')], before);
  } finally {
    await laptop.tp(['quit']).catch(() => undefined);
    await laptop.tp(['manager', 'uninstall', '--manager-namespace', MANAGER_NAMESPACE], { timeoutMs: 120_000 }).catch(() => undefined);
    await kubectl(['delete', 'namespace', legacy, '--wait=false', '--ignore-not-found']).catch(() => undefined);
  }
});

/** An echo server with no securityContext at all (fine for "privileged", not for "restricted") behind a Service. */
function legacyManifests(namespace: string): string {
  return withImages(`apiVersion: v1
kind: Namespace
metadata: {name: ${namespace}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: legacy, namespace: ${namespace}, labels: {app: legacy}}
spec:
  replicas: 1
  selector: {matchLabels: {app: legacy}}
  template:
    metadata: {labels: {app: legacy}}
    spec:
      containers:
        - name: echo
          image: IMAGE_ECHO
          env: [{name: PORT, value: "8080"}]
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: ${namespace}}
spec:
  selector: {app: legacy}
  ports: [{name: http, port: 80, targetPort: http}]
`);
}

/** A kubeconfig for the laptop user with the same cluster and `user` as its user entry (or no user at all). */
function kubeconfigWithoutCredentials(name: string, withUserEntry: boolean): string {
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  const cluster = kc.getCurrentCluster()!;
  const path = join(laptop.home, `${name}.kubeconfig`);
  const document = {
    apiVersion: 'v1', kind: 'Config', 'current-context': name,
    clusters: [{ name: cluster.name, cluster: { server: cluster.server, 'certificate-authority-data': readCa(cluster) } }],
    contexts: [{ name, context: { cluster: cluster.name, namespace: 'default', ...(withUserEntry ? { user: name } : {}) } }],
    users: withUserEntry ? [{ name, user: {} }] : [],
  };
  writeFileSync(path, JSON.stringify(document), { mode: 0o600 });
  if (RUNNING_AS_ROOT) {
    const owner = statSync(laptop.home);
    chownSync(path, owner.uid, owner.gid);
  }
  return path;
}

function readCa(cluster: { caData?: string; caFile?: string }): string {
  return cluster.caData ?? readFileSync(cluster.caFile!).toString('base64');
}

for (const [label, withUserEntry] of [['a user entry without credentials', true], ['a context without a user', false]] as const) {
  test.serial(`tp connect with ${label} says the kubeconfig sends no credentials`, async (t) => {
    await laptop.tp(['quit']);
    const kubeconfig = kubeconfigWithoutCredentials(withUserEntry ? 'empty-user' : 'no-user', withUserEntry);
    const error = await laptop.tp(['connect', '--output', 'json'], { env: { KUBECONFIG: kubeconfig }, timeoutMs: 90_000 }).then(
      () => undefined, (err: unknown) => (JSON.parse((err as { stdout: string }).stdout) as { error: { code: string; message: string; hints: string[] } }).error);
    if (!error) throw new Error('tp connect succeeded without credentials');
    t.is(error.code, 'TP_ERR_KUBE_NO_CREDENTIALS');
    t.regex(error.message, /saw no credentials/);
    t.regex(error.message, /system:anonymous/);
    t.true(error.hints.some((hint) => hint.includes('kubectl config view --minify')));
    t.false(JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout).connected);
  });
}
