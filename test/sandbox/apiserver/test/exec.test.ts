// pods/exec through the API server with real clients (kubectl exec, client-node's Exec) and a
// real process behind the execInPod hook (sh on this machine, standing in for the node's runtime).
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { PassThrough, Writable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import type WebSocket from 'ws';
import { spawnExecProcess } from '../../pod-exec.js';
import { startTestCluster, type TestCluster } from './helpers.js';

let cluster: TestCluster;
let kubeconfig: string;
const started: { pod: string; container: string; argv: string[] }[] = [];

test.before(async () => {
  cluster = await startTestCluster({
    hooks: {
      execInPod(pod, container, argv) {
        started.push({ pod: `${pod.namespace}/${pod.name}`, container, argv });
        return spawnExecProcess(argv[0]!, argv.slice(1));
      },
    },
  });
  kubeconfig = await cluster.kubeconfigFile();
  const core = cluster.kubeConfig().makeApiClient(k8s.CoreV1Api);
  for (const [name, containers] of [['one', ['main']], ['two', ['a', 'b']]] as const) {
    const pod = await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name }, spec: { containers: containers.map((c) => ({ name: c, image: 'busybox' })) } } });
    await core.replaceNamespacedPodStatus({ name, namespace: 'default', body: { ...pod, status: { phase: 'Running', podIP: '198.18.0.9' } } });
  }
  await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'pending' }, spec: { containers: [{ name: 'main', image: 'busybox' }] } } });
  await core.createNamespacedServiceAccount({ namespace: 'default', body: { metadata: { name: 'viewer' } } });
  const rbac = cluster.kubeConfig().makeApiClient(k8s.RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({ namespace: 'default', body: { metadata: { name: 'viewer' }, rules: [{ apiGroups: [''], resources: ['pods', 'pods/exec'], verbs: ['get', 'list'] }] } });
  await rbac.createNamespacedRoleBinding({ namespace: 'default', body: {
    metadata: { name: 'viewer' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'viewer' },
    subjects: [{ kind: 'ServiceAccount', name: 'viewer', namespace: 'default' }],
  } });
});
test.after.always(async () => {
  await cluster?.close();
});

/** kubectl with the given stdin; resolves with its exit code and output, never rejecting. */
function kubectl(args: string[], input?: string, config = kubeconfig): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('kubectl', ['--kubeconfig', config, ...args], { encoding: 'utf8', timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
    child.stdin!.end(input ?? '');
  });
}

test.serial('kubectl exec: stdout and stderr apart, the exit code comes through', async (t) => {
  const result = await kubectl(['exec', 'one', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  t.is(result.stdout, 'out\n');
  t.regex(result.stderr, /^err\n/);
  t.regex(result.stderr, /command terminated with exit code 3/);
  t.is(result.code, 3);
  t.deepEqual(started.at(-1), { pod: 'default/one', container: 'main', argv: ['sh', '-c', 'echo out; echo err >&2; exit 3'] });
  t.is((await kubectl(['exec', 'one', '--', 'true'])).code, 0);
});

test.serial('kubectl exec -i: stdin reaches the command and its end closes the command\'s stdin', async (t) => {
  const input = `${'line of stdin\n'.repeat(20_000)}last`;
  const result = await kubectl(['exec', '-i', 'one', '--', 'sh', '-c', 'wc -c; echo done'], input);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, `${Buffer.byteLength(input)}\ndone\n`);
});

test.serial('kubectl exec -c picks the container; one the pod does not have is refused', async (t) => {
  t.is((await kubectl(['exec', 'two', '-c', 'b', '--', 'true'])).code, 0);
  t.is(started.at(-1)?.container, 'b');
  const unknown = await kubectl(['exec', 'two', '-c', 'c', '--', 'true']);
  t.not(unknown.code, 0);
  t.regex(unknown.stderr, /container c is not valid for pod two|container c not found/);
});

test.serial('exec into a pod that is not Running fails with a clear error', async (t) => {
  const result = await kubectl(['exec', 'pending', '--', 'true']);
  t.not(result.code, 0);
  t.regex(result.stderr, /not running|Pending/);
});

test.serial('a user allowed only get on pods/exec gets 403 Forbidden (a WebSocket exec needs create)', async (t) => {
  const core = cluster.kubeConfig().makeApiClient(k8s.CoreV1Api);
  const token = (await core.createNamespacedServiceAccountToken({ namespace: 'default', name: 'viewer', body: { spec: { audiences: [], expirationSeconds: 600 } } })).status!.token;
  const config = await cluster.kubeconfigFile(token);
  const before = started.length;
  const result = await kubectl(['exec', 'one', '--', 'true'], undefined, config);
  t.not(result.code, 0);
  t.regex(result.stderr, /forbidden.*cannot create resource "pods\/exec"/i);
  t.is(started.length, before, 'the forbidden exec never ran');
});

test.serial('client-node Exec gets output and the NonZeroExitCode status; a client that leaves kills the command', async (t) => {
  const exec = new k8s.Exec(cluster.kubeConfig());
  let stdout = '';
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { stdout += String(chunk); done(); } });
  const status = await new Promise<k8s.V1Status>((resolve, reject) => {
    exec.exec('default', 'one', 'main', ['sh', '-c', 'printf hello; exit 5'], sink, null, null, false, resolve).catch(reject);
  });
  t.is(stdout, 'hello');
  t.is(status.reason, 'NonZeroExitCode');
  t.deepEqual(status.details?.causes, [{ reason: 'ExitCode', message: '5' }]);

  const marker = `tp-exec-test-${process.pid}-${Date.now()}`;
  const ws = await exec.exec('default', 'one', 'main', ['sh', '-c', `sleep 300; echo ${marker}`], new PassThrough(), null, new PassThrough(), false) as WebSocket;
  await waitUntil(async () => (await pgrep(marker)) > 0);
  ws.terminate();
  await waitUntil(async () => (await pgrep(marker)) === 0);
  t.is(await pgrep(marker), 0);
});

function pgrep(pattern: string): Promise<number> {
  return new Promise((resolve) => {
    let out = '';
    const child = spawn('pgrep', ['-f', pattern]);
    child.stdout.on('data', (d: Buffer) => (out += String(d)));
    child.on('close', () => resolve(out.split('\n').filter((l) => l.trim() !== '').length));
  });
}

async function waitUntil(probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
