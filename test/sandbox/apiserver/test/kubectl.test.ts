import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { startTestCluster, type TestCluster } from './helpers.js';

const execFileAsync = promisify(execFile);

let cluster: TestCluster;
let kubeconfig: string;
let dir: string;

test.before(async () => {
  cluster = await startTestCluster({
    hooks: {
      async podLogs(namespace, pod, container, options) {
        return Readable.from([`log of ${namespace}/${pod}/${container} tail=${options.tailLines ?? 'all'}\n`]);
      },
    },
  });
  kubeconfig = await cluster.kubeconfigFile();
  dir = await mkdtemp(join(tmpdir(), 'tp-apiserver-kubectl-'));
});
test.after.always(async () => {
  await cluster?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', timeout: 30_000 });
  return stdout;
}

async function kubectlFails(...args: string[]): Promise<string> {
  try {
    await kubectl(...args);
  } catch (error) {
    return String((error as { stderr?: string }).stderr);
  }
  throw new Error(`kubectl ${args.join(' ')} succeeded`);
}

function manifest(namespace: string, value: string, replicas: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${namespace}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: tp/echo-server:1
        env: [{name: MODE, value: "${value}"}]
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ${namespace}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
`;
}

test.serial('kubectl create namespace, apply twice (the second is a strategic merge patch), get as table/json/wide', async (t) => {
  t.regex(await kubectl('create', 'namespace', 'kc'), /namespace\/kc created/);
  const file = join(dir, 'web.yaml');
  await writeFile(file, manifest('kc', 'one', 1));
  t.regex(await kubectl('apply', '-f', file), /deployment.apps\/web created\nservice\/web created/);
  // A sidecar added by someone else must survive the second apply (strategic merge by name).
  const apps = cluster.kubeConfig().makeApiClient(k8s.AppsV1Api);
  await apps.patchNamespacedDeployment({ name: 'web', namespace: 'kc', body: { spec: { template: { spec: { containers: [{ name: 'agent', image: 'tp/tp:1' }] } } } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch));
  await writeFile(file, manifest('kc', 'two', 2));
  t.regex(await kubectl('apply', '-f', file), /deployment.apps\/web configured\nservice\/web unchanged/);
  const dep = JSON.parse(await kubectl('get', 'deployment', 'web', '-n', 'kc', '-o', 'json')) as k8s.V1Deployment;
  t.is(dep.spec?.replicas, 2);
  t.deepEqual(dep.spec?.template.spec?.containers.map((c) => `${c.name}:${c.env?.[0]?.value ?? '-'}`), ['app:two', 'agent:-']);
  const table = await kubectl('get', 'deploy,svc', '-n', 'kc');
  t.regex(table, /NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\ndeployment.apps\/web\s+0\/2\s+0\s+0\s+\d+s/);
  t.regex(table, /service\/web\s+ClusterIP\s+198\.19\.\d+\.\d+\s+<none>\s+80\/TCP/);
  t.regex(await kubectl('get', 'deploy', '-n', 'kc', '-o', 'wide'), /CONTAINERS\s+IMAGES\s+SELECTOR\n.*app,agent\s+tp\/echo-server:1,tp\/tp:1\s+app=web/);
});

test.serial('kubectl label, annotate, scale, logs, describe and delete', async (t) => {
  t.regex(await kubectl('run', 'p1', '-n', 'kc', '--image=busybox', '--', 'sleep', '60'), /pod\/p1 created/);
  t.regex(await kubectl('label', 'pod', 'p1', '-n', 'kc', 'tier=test'), /pod\/p1 labeled/);
  t.regex(await kubectl('annotate', 'pod', 'p1', '-n', 'kc', 'note=hello'), /pod\/p1 annotated/);
  t.regex(await kubectl('get', 'pods', '-n', 'kc', '-l', 'tier=test', '-o', 'wide'), /NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE.*\np1\s+0\/1\s+Pending\s+0/);
  t.regex(await kubectl('scale', 'deployment/web', '-n', 'kc', '--replicas=5'), /deployment.apps\/web scaled/);
  t.is(await kubectl('get', 'deployment', 'web', '-n', 'kc', '-o', 'jsonpath={.spec.replicas}'), '5');
  t.is(await kubectl('logs', 'p1', '-n', 'kc', '--tail=3'), 'log of kc/p1/p1 tail=3\n');
  const describePod = await kubectl('describe', 'pod', 'p1', '-n', 'kc');
  t.regex(describePod, /Name:\s+p1\nNamespace:\s+kc/);
  t.regex(describePod, /Annotations:\s+note: hello/);
  const describeSvc = await kubectl('describe', 'service', 'web', '-n', 'kc');
  t.regex(describeSvc, /TargetPort:\s+8080\/TCP/);
  t.regex(await kubectl('delete', 'pod', 'p1', '-n', 'kc'), /pod "p1" deleted/);
  t.regex(await kubectlFails('get', 'pod', 'p1', '-n', 'kc'), /Error from server \(NotFound\): pods "p1" not found/);
});

test.serial('kubectl auth can-i and whoami answer from RBAC, also for a service account token', async (t) => {
  t.is(await kubectl('auth', 'can-i', 'create', 'pods/portforward', '-n', 'kc'), 'yes\n');
  t.regex(await kubectl('auth', 'whoami'), /Username\s+sandbox-admin/);
  await kubectl('create', 'serviceaccount', 'viewer', '-n', 'kc');
  await kubectl('create', 'rolebinding', 'viewer', '-n', 'kc', '--clusterrole=view', '--serviceaccount=kc:viewer');
  const token = (await kubectl('create', 'token', 'viewer', '-n', 'kc')).trim();
  const viewerConfig = await cluster.kubeconfigFile(token);
  const asViewer = async (...args: string[]): Promise<string> => {
    try {
      return (await execFileAsync('kubectl', ['--kubeconfig', viewerConfig, ...args], { encoding: 'utf8' })).stdout;
    } catch (error) {
      return `${(error as { stdout?: string }).stdout ?? ''}${(error as { stderr?: string }).stderr ?? ''}`;
    }
  };
  t.is(await asViewer('auth', 'can-i', 'list', 'pods', '-n', 'kc'), 'yes\n');
  t.is(await asViewer('auth', 'can-i', 'delete', 'pods', '-n', 'kc'), 'no\n');
  t.is(await asViewer('auth', 'can-i', 'list', 'pods', '-n', 'default'), 'no\n');
  t.regex(await asViewer('delete', 'deployment', 'web', '-n', 'kc'), /Error from server \(Forbidden\): deployments.apps "web" is forbidden: User "system:serviceaccount:kc:viewer" cannot delete resource "deployments" in API group "apps" in the namespace "kc"/);
  const impersonated = await kubectl('auth', 'can-i', 'delete', 'pods', '-n', 'kc', '--as', 'system:serviceaccount:kc:viewer').catch((e: { stdout?: string }) => e.stdout ?? '');
  t.is(impersonated, 'no\n', 'impersonation evaluates RBAC as the impersonated service account');
});

test.serial('kubectl delete -f removes what apply made, and deleting the namespace removes the rest', async (t) => {
  t.regex(await kubectl('delete', '-f', join(dir, 'web.yaml')), /deployment.apps "web" deleted\nservice "web" deleted/);
  t.regex(await kubectl('delete', 'namespace', 'kc'), /namespace "kc" deleted/);
  t.regex(await kubectlFails('get', 'namespace', 'kc'), /NotFound/);
});
