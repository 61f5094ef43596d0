// Intercepts follow the caller's own RBAC: a user who may port-forward to the traffic-manager
// (and read what `tp connect` needs) but holds no rights in namespace team-b can neither
// intercept a workload there nor remove its traffic-agent, and is told which permission is
// missing; with `patch` on deployments in team-b (a Role and RoleBinding) both work. The user is a
// ServiceAccount whose token (from the TokenRequest API, as `kubectl create token` gets it) is
// the only credential in the laptop's kubeconfig.
import test from 'ava';
import { chownSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { kubectl } from '../helpers/cluster.js';
import { RUNNING_AS_ROOT } from '../../helpers/unprivileged.js';
import { eventually, KUBECONFIG, type Laptop } from '../helpers/laptop.js';
import { answeredBy, curlFromPod, localServer, setUpWorkloads, specOf, tearDownNamespace, type InterceptEnv, type LocalServer } from './helpers.js';

const NAMESPACE = 'team-b';
const USER = 'dev';

let env: InterceptEnv;
let laptop: Laptop;
let server: LocalServer;
let kubeconfig: string;

test.before(async () => {
  env = await setUpWorkloads(NAMESPACE, 'test/e2e/intercept/fixtures/workloads.yaml.tmpl', ['web']);
  const mgr = env.managerNamespace;
  // What `tp connect` needs, in the manager's namespace only: find the manager, read the client token, port-forward.
  await apply([
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: USER, namespace: mgr } },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'tp-connect', namespace: mgr }, rules: [
          { apiGroups: [''], resources: ['pods', 'secrets'], verbs: ['get', 'list'] },
          { apiGroups: [''], resources: ['pods/portforward'], verbs: ['get', 'create'] },
          { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get'] },
        ] },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'tp-connect', namespace: mgr },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'tp-connect' }, subjects: [{ kind: 'ServiceAccount', name: USER, namespace: mgr }] },
  ]);
  const token = (await kubectl(['-n', mgr, 'create', 'token', USER, '--duration=2h'])).trim();
  laptop = env.newLaptop(USER);
  kubeconfig = tokenKubeconfig(laptop, token);
  server = await localServer(USER);
  await tp(['connect', '-n', NAMESPACE], 120_000);
});

test.after.always(async () => {
  await laptop?.cleanup();
  await server?.close();
  await tearDownNamespace(env);
});

const tp = (args: string[], timeoutMs = 180_000) => laptop.tp([...args, '--manager-namespace', env.managerNamespace], { timeoutMs, env: { KUBECONFIG: kubeconfig } });

async function failure(args: string[]): Promise<{ code: string; message: string; hints: string[] }> {
  const outcome = await tp([...args, '--output', 'json']).then(() => undefined, (err: unknown) => (JSON.parse((err as { stdout: string }).stdout) as { error: { code: string; message: string; hints: string[] } }).error);
  if (!outcome) throw new Error(`tp ${args.join(' ')} succeeded without the right to patch`);
  return outcome;
}

function assertNamesPermission(t: { is(a: unknown, b: unknown): void; regex(s: string, r: RegExp): void; true(v: boolean, m?: string): void }, error: { code: string; message: string; hints: string[] }): void {
  t.is(error.code, 'TP_ERR_INTERCEPT_FORBIDDEN');
  t.regex(error.message, /patch deployments\.apps "web" in namespace "team-b"/);
  t.true(error.hints.some((hint) => hint.includes('kubectl auth can-i patch deployment/web -n team-b')), error.hints.join(' | '));
}

async function grantPatch(granted: boolean): Promise<void> {
  const binding = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'dev-patch', namespace: NAMESPACE },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'patch-deployments' }, subjects: [{ kind: 'ServiceAccount', name: USER, namespace: env.managerNamespace }] };
  const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'patch-deployments', namespace: NAMESPACE },
    rules: [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['patch'] }] };
  if (granted) await apply([role, binding]);
  else await kubectl(['-n', NAMESPACE, 'delete', 'rolebinding', 'dev-patch']);
}

test.serial('without patch on the deployment, tp intercept is refused naming the missing permission, and the workload stays as it was', async (t) => {
  const before = [await specOf(NAMESPACE, 'deployment', 'web'), await specOf(NAMESPACE, 'service', 'web')];
  assertNamesPermission(t, await failure(['intercept', 'web', '--port', `${server.port}:http`, '-n', NAMESPACE]));
  t.deepEqual([await specOf(NAMESPACE, 'deployment', 'web'), await specOf(NAMESPACE, 'service', 'web')], before);
  t.regex(answeredBy(await curlFromPod(NAMESPACE, [`http://web.${NAMESPACE}/refused`])), /^pod web-/);
});

test.serial('with patch granted the intercept works; with it revoked tp uninstall --agent is refused and the agent stays; granted again, uninstall restores the workload', async (t) => {
  const before = [await specOf(NAMESPACE, 'deployment', 'web'), await specOf(NAMESPACE, 'service', 'web')];
  await grantPatch(true);
  const { stdout } = await tp(['intercept', 'web', '--port', `${server.port}:http`, '-n', NAMESPACE, '--output', 'json']);
  t.is((JSON.parse(stdout) as { intercept: { state: string } }).intercept.state, 'ACTIVE');
  t.is(answeredBy(await curlFromPod(NAMESPACE, [`http://web.${NAMESPACE}/granted`])), `laptop ${USER}`);
  t.deepEqual(await proofMarks(), [], 'the permission check leaves no mark behind');
  const late = await failure(['intercept', 'web', '--name', 'late', '--service', 'no-such-service', '--port', `${server.port}:http`, '-n', NAMESPACE]);
  t.not(late.code, 'TP_ERR_INTERCEPT_FORBIDDEN');
  t.deepEqual(await proofMarks(), [], 'nor does a create that fails after it');
  await laptop.tp(['leave', 'web'], { timeoutMs: 60_000, env: { KUBECONFIG: kubeconfig } });

  await grantPatch(false);
  assertNamesPermission(t, await failure(['uninstall', '--agent', 'web', '-n', NAMESPACE]));
  const list = JSON.parse((await tp(['list', '-n', NAMESPACE, '--output', 'json'])).stdout) as { workloads: { name: string; agentInstalled: boolean }[] };
  t.true(list.workloads.find((w) => w.name === 'web')!.agentInstalled);

  await grantPatch(true);
  const removed = JSON.parse((await tp(['uninstall', '--agent', 'web', '-n', NAMESPACE, '--output', 'json'])).stdout) as { restored: string[] };
  t.deepEqual(removed.restored, ['Deployment/web']);
  t.deepEqual([await specOf(NAMESPACE, 'deployment', 'web'), await specOf(NAMESPACE, 'service', 'web')], before);
  await eventually(async () => {
    const by = answeredBy(await curlFromPod(NAMESPACE, [`http://web.${NAMESPACE}/after`]));
    if (!by.startsWith('pod web-')) throw new Error(`answered by ${by}`);
  }, 30_000);
});

test.serial('a user who may not port-forward to the traffic-manager is told which permission is missing', async (t) => {
  const mgr = env.managerNamespace;
  const name = 'dev-no-forward';
  await apply([
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: mgr } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name, namespace: mgr },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'tp-connect-no-forward' }, subjects: [{ kind: 'ServiceAccount', name, namespace: mgr }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'tp-connect-no-forward', namespace: mgr }, rules: [
      { apiGroups: [''], resources: ['pods', 'secrets'], verbs: ['get', 'list'] },
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get'] },
    ] },
  ]);
  const token = (await kubectl(['-n', mgr, 'create', 'token', name, '--duration=1h'])).trim();
  const other = env.newLaptop(name);
  t.teardown(() => other.cleanup());
  const config = tokenKubeconfig(other, token, name);
  const error = await other.tp(['connect', '-n', NAMESPACE, '--manager-namespace', mgr, '--output', 'json'], { timeoutMs: 120_000, env: { KUBECONFIG: config } }).then(
    () => undefined,
    (err: unknown) => (JSON.parse((err as { stdout: string }).stdout) as { error: { code: string; message: string; hints: string[] } }).error,
  );
  t.truthy(error, 'tp connect succeeded without the right to port-forward');
  t.is(error!.code, 'TP_ERR_KUBE_FORBIDDEN');
  t.regex(error!.message, /port-forward/);
  t.true(error!.hints.some((hint) => hint.includes(`create pods/portforward in namespace "${mgr}"`)), error!.hints.join(' | '));
  t.true(error!.hints.some((hint) => hint.includes(`kubectl auth can-i create pods --subresource=portforward -n ${mgr}`)), error!.hints.join(' | '));
});

/** Annotations of deployment/web left by a permission check. */
async function proofMarks(): Promise<string[]> {
  const annotations = (JSON.parse(await kubectl(['-n', NAMESPACE, 'get', 'deployment', 'web', '-o', 'json'])) as { metadata: { annotations?: Record<string, string> } }).metadata.annotations ?? {};
  return Object.keys(annotations).filter((key) => key.endsWith('rbac-proof'));
}

async function apply(items: object[]): Promise<void> {
  for (const item of items) await kubectl(['apply', '-f', '-'], { input: JSON.stringify(item) });
}

/** The cluster of the admin kubeconfig with a user that holds only `token`, readable by the laptop user. */
function tokenKubeconfig(owner: Laptop, token: string, user = USER): string {
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  const cluster = kc.getCurrentCluster()!;
  const ca = cluster.caData ?? readFileSync(cluster.caFile!).toString('base64');
  const path = join(owner.home, `${user}.kubeconfig`);
  writeFileSync(path, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': user,
    clusters: [{ name: cluster.name, cluster: { server: cluster.server, 'certificate-authority-data': ca } }],
    contexts: [{ name: user, context: { cluster: cluster.name, namespace: NAMESPACE, user } }],
    users: [{ name: user, user: { token } }],
  }), { mode: 0o600 });
  if (RUNNING_AS_ROOT) {
    const home = statSync(owner.home);
    chownSync(path, home.uid, home.gid);
  }
  return path;
}
