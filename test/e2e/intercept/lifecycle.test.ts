// Intercepts over their life end to end: a client daemon that dies loses its intercept once its
// session expires (the manager here runs with a 5 s session TTL) and the pods answer again; a
// restarted manager gets the intercept back from the reconnecting daemon; while no manager runs
// the agents' pods stay ready (their readiness is their own); `tp manager uninstall` removes the
// agents, leaving workload and Service exactly as before.
import test from 'ava';
import { kubectl, coreApi } from '../helpers/cluster.js';
import { eventually, type Laptop } from '../helpers/laptop.js';
import { answeredBy, curlFromPod, localServer, SESSION_TTL_S, setUpNamespace, specOf, tearDownNamespace, type InterceptEnv, type LocalServer } from './helpers.js';

let env: InterceptEnv;
let laptop: Laptop;
let server: LocalServer;
let before: Record<string, unknown>[];

test.before(async () => {
  env = await setUpNamespace('tp-ic-life');
  before = [await specOf(env.namespace, 'deployment', 'web'), await specOf(env.namespace, 'service', 'web')];
  laptop = env.newLaptop('dev');
  server = await localServer('dev');
});

test.after.always(async () => {
  await laptop?.cleanup();
  await server?.close();
  await tearDownNamespace(env);
});

const url = () => `http://web.${env.namespace}/`;

async function daemonPid(): Promise<number> {
  const status = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { pid: number };
  return status.pid;
}

test.serial('when the client daemon dies, its intercept is gone within the session expiry and the pods answer', async (t) => {
  await env.tp(laptop, ['connect', '-n', env.namespace], 120_000);
  await env.tp(laptop, ['intercept', 'web', '--port', String(server.port)]);
  t.is(answeredBy(await curlFromPod(env.namespace, [url()])), 'laptop dev');
  process.kill(await daemonPid(), 'SIGKILL');
  const started = Date.now();
  await eventually(async () => {
    const by = answeredBy(await curlFromPod(env.namespace, [url()]));
    if (!by.startsWith('pod web-')) throw new Error(`answered by ${by}`);
  }, 30_000);
  t.log(`pods answered again ${Date.now() - started} ms after the daemon died (session TTL ${SESSION_TTL_S} s)`);
  // The agent fails open at once (no client to splice to); the manager also forgets the intercept.
  await env.tp(laptop, ['connect', '-n', env.namespace], 120_000);
  const left = await eventually(async () => {
    const list = JSON.parse((await env.tp(laptop, ['list', '-n', env.namespace, '--output', 'json'])).stdout) as { workloads: { name: string; intercepts: unknown[] }[] };
    const intercepts = list.workloads.find((w) => w.name === 'web')!.intercepts;
    if (intercepts.length !== 0) throw new Error('the intercept is still listed');
    return intercepts;
  }, (SESSION_TTL_S + 10) * 1000);
  t.deepEqual(left, []);
});

test.serial('after the manager restarts, the daemon creates its intercept again and traffic reaches the laptop', async (t) => {
  await env.tp(laptop, ['intercept', 'web', '--port', String(server.port)]);
  t.is(answeredBy(await curlFromPod(env.namespace, [url()])), 'laptop dev');
  const pods = await coreApi().listNamespacedPod({ namespace: env.managerNamespace, labelSelector: 'app.kubernetes.io/name=traffic-manager' });
  await kubectl(['-n', env.managerNamespace, 'delete', 'pod', ...pods.items.map((p) => p.metadata!.name!), '--wait=false']);
  await eventually(async () => {
    const by = answeredBy(await curlFromPod(env.namespace, [`${url()}resumed`]));
    if (by !== 'laptop dev') throw new Error(`answered by ${by}`);
  }, 90_000, 1000);
  const status = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { features: { intercepts: { name: string; state: string }[] } };
  t.deepEqual(status.features.intercepts.map((i) => [i.name, i.state]), [['web', 'ACTIVE']]);
});

test.serial("while the manager is away the agents' pods stay ready and the Service serves the app: readiness is the agent's own", async (t) => {
  const manager = ['-n', env.managerNamespace, 'deployment/traffic-manager'];
  await kubectl(['scale', ...manager, '--replicas=0']);
  t.teardown(async () => {
    await kubectl(['scale', ...manager, '--replicas=1']);
    await kubectl(['-n', env.managerNamespace, 'rollout', 'status', 'deployment/traffic-manager', '--timeout=120s'], { timeoutMs: 130_000 });
  });
  await eventually(async () => {
    const left = await coreApi().listNamespacedPod({ namespace: env.managerNamespace, labelSelector: 'app.kubernetes.io/name=traffic-manager' });
    if (left.items.length > 0) throw new Error(`${left.items.length} manager pod(s) left`);
  }, 90_000, 1000);
  // The agents lost the manager: they pass everything to the app (fail open).
  await eventually(async () => {
    const by = answeredBy(await curlFromPod(env.namespace, [`${url()}away`]));
    if (!by.startsWith('pod web-')) throw new Error(`answered by ${by}`);
  }, 60_000, 1000);
  const answered = new Set<string>();
  for (let i = 0; i < 8; i++) answered.add(answeredBy(await curlFromPod(env.namespace, [`${url()}away-${i}`])));
  const pods = (await coreApi().listNamespacedPod({ namespace: env.namespace, labelSelector: 'app=web' })).items.filter((p) => !p.metadata?.deletionTimestamp);
  t.is(pods.length, 2);
  for (const pod of pods) {
    t.true(pod.spec!.containers.some((c) => c.name === 'traffic-agent'), `${pod.metadata!.name} runs the agent`);
    t.true((pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'), `${pod.metadata!.name} stays Ready without the manager`);
  }
  t.true([...answered].every((by) => by.startsWith('pod web-')), [...answered].join(' '));
  const endpoints = await coreApi().readNamespacedEndpoints({ name: 'web', namespace: env.namespace });
  const ready = (endpoints.subsets ?? []).flatMap((s) => s.addresses ?? []).map((a) => a.targetRef?.name).sort();
  t.deepEqual(ready, pods.map((p) => p.metadata!.name).sort(), 'both pods stay in the Service');
});

test.serial('tp manager uninstall removes the agents first: workload and Service are as they were', async (t) => {
  const { stdout } = await laptop.tp(['manager', 'uninstall', '--manager-namespace', env.managerNamespace, '--output', 'json'], { timeoutMs: 120_000 });
  t.true((JSON.parse(stdout) as { removed: string[] }).removed.includes(`traffic-agent of Deployment ${env.namespace}/web`));
  t.deepEqual([await specOf(env.namespace, 'deployment', 'web'), await specOf(env.namespace, 'service', 'web')], before);
  const secrets = await coreApi().listNamespacedSecret({ namespace: env.namespace });
  t.false(secrets.items.some((s) => s.metadata?.name === 'tp-agent-token'));
});
