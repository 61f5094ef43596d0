// `kubectl exec` against the running sandbox, as against a real cluster: the command runs in the
// pod (its network namespace: it sees the pod's IP), stdout and stderr arrive apart, stdin reaches
// it and its end closes the command's stdin, the exit code comes through, and a user whose RBAC
// lacks pods/exec gets 403 with nothing run.
import { execFile } from 'node:child_process';
import test from 'ava';
import { RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { coreApi, kubeConfig, kubectl, paths } from './sandbox-client.js';

const POD = 'e2e-exec';
const NAMESPACE = 'e2e-exec';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** kubectl against the sandbox (extra flags first), resolving with its exit code; never rejects. */
function kubectlRun(args: string[], input = ''): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile('kubectl', ['--kubeconfig', paths.kubeconfig, ...args], { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
    child.stdin!.end(input);
  });
}

/** A Role with `rule` bound to the ServiceAccount viewer. */
async function grant(name: string, rule: V1PolicyRule): Promise<void> {
  const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({ namespace: NAMESPACE, body: { metadata: { name }, rules: [rule] } });
  await rbac.createNamespacedRoleBinding({ namespace: NAMESPACE, body: {
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name: 'viewer', namespace: NAMESPACE }],
  } });
}

test.before(async () => {
  await kubectl(['create', 'namespace', NAMESPACE]);
  await kubectl(['-n', NAMESPACE, 'run', POD, '--image=debian:12', '--restart=Never', '--command', '--', 'sleep', 'infinity']);
  await kubectl(['-n', NAMESPACE, 'wait', '--for=condition=Ready', `pod/${POD}`, '--timeout=60s'], { timeoutMs: 70_000 });
});

test.after.always(async () => {
  await kubectl(['delete', 'namespace', NAMESPACE, '--wait=false', '--ignore-not-found']).catch(() => undefined);
});

test.serial('kubectl exec runs in the pod: stdout and stderr apart, and the exit code comes through', async (t) => {
  const podIP = (await coreApi().readNamespacedPod({ namespace: NAMESPACE, name: POD })).status!.podIP!;
  const result = await kubectlRun(['-n', NAMESPACE, 'exec', POD, '--', 'sh', '-c', 'ip -4 -o addr show; echo to-stderr >&2; exit 42']);
  t.is(result.code, 42, result.stderr);
  t.true(result.stdout.includes(` ${podIP}/`), `the command sees the pod's IP ${podIP}: ${result.stdout}`);
  t.false(result.stdout.includes('to-stderr'));
  t.regex(result.stderr, /^to-stderr\n/);
  t.regex(result.stderr, /command terminated with exit code 42/);
  const ok = await kubectlRun(['-n', NAMESPACE, 'exec', POD, '--', 'true']);
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout, '');
});

test.serial('kubectl exec -i hands stdin over, and its end reaches the command', async (t) => {
  const input = 'stdin for the pod\n'.repeat(50_000);
  const result = await kubectlRun(['-n', NAMESPACE, 'exec', '-i', POD, '--', 'sh', '-c', 'wc -c; echo after-eof'], input);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, `${Buffer.byteLength(input)}\nafter-eof\n`);
});

test.serial('a user without pods/exec is forbidden (403) and nothing runs; granting create on pods/exec lets it in', async (t) => {
  await kubectl(['-n', NAMESPACE, 'create', 'serviceaccount', 'viewer']);
  await grant('viewer', { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] });
  const token = (await kubectl(['-n', NAMESPACE, 'create', 'token', 'viewer'])).trim();
  const marker = `/tmp/tp-exec-forbidden-${process.pid}`;
  const denied = await kubectlRun(['--token', token, '-n', NAMESPACE, 'exec', POD, '--', 'touch', marker]);
  t.not(denied.code, 0);
  t.regex(denied.stderr, /Forbidden|forbidden/);
  t.regex(denied.stderr, /cannot create resource "pods\/exec"/);
  t.is((await kubectlRun(['-n', NAMESPACE, 'exec', POD, '--', 'test', '-e', marker])).code, 1, 'the forbidden command did not run');

  await grant('exec', { apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] });
  const allowed = await kubectlRun(['--token', token, '-n', NAMESPACE, 'exec', POD, '--', 'echo', 'allowed']);
  t.is(allowed.code, 0, allowed.stderr);
  t.is(allowed.stdout, 'allowed\n');
});
