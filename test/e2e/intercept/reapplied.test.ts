// A workload whose manifest is applied again after tp injected its traffic-agent (kubectl apply, a
// deploy): apply keeps the agent container, which the manifest does not mention, but gives the
// app's port its name back, and Kubernetes resolves a Service's named targetPort to the first
// container with that name: the app. `tp intercept` then puts the agent back in the path itself
// (taking the name from the app again) before it answers ACTIVE, and `tp uninstall --agent`
// afterwards leaves the app container as the re-applied manifest said. A manifest that moved the
// named port to another number gets the agent forwarding to the new number, under the one name.
import test from 'ava';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { execInPod, kubectl } from '../helpers/cluster.js';
import { fixture } from '../helpers/images.js';
import { eventually, type Laptop } from '../helpers/laptop.js';
import { setUpNamespace, tearDownNamespace, type InterceptEnv } from './helpers.js';

const MANIFEST = 'test/e2e/intercept/fixtures/workloads.yaml.tmpl';
const CONNECTIONS = 6;

let env: InterceptEnv | undefined;
let laptop: Laptop | undefined;
let echo: Server | undefined;

test.before(async () => {
  env = await setUpNamespace('tp-ic-reapply');
  laptop = env.newLaptop('rhea');
  // The laptop's echo marks its answers, so each connection says where it went.
  echo = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.write('laptop ');
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo!.listen(0, '127.0.0.1', resolve));
  await env.tp(laptop, ['connect', '-n', env.namespace], 120_000);
});
test.after.always(async () => {
  await laptop?.cleanup();
  echo?.close();
  await tearDownNamespace(env);
});

const tp = (args: string[]) => env!.tp(laptop!, [...args, '-n', env!.namespace]);
const echoPort = () => String((echo!.address() as AddressInfo).port);

/** CONNECTIONS new connections from the client pod to raw:9000, one after another: who answered each ("laptop", "app", or the error). */
async function whereConnectionsGo(): Promise<string[]> {
  const script = `
const net = require('net');
function one() { return new Promise((done) => { let got = ''; const s = net.connect(9000, 'raw.${env!.namespace}', () => s.write('ping\\n'));
  s.on('data', (d) => { got += d; if (got.includes('\\n')) { s.destroy(); done(got.startsWith('laptop ') ? 'laptop' : 'app'); } });
  s.on('error', (e) => done('error ' + e.code)); s.setTimeout(5000, () => { s.destroy(); done('timeout'); }); }); }
(async () => { const out = []; for (let i = 0; i < ${CONNECTIONS}; i++) out.push(await one()); console.log(out.join(' ')); })();`;
  const result = await execInPod('client', ['node', '-e', script], env!.namespace, 60_000);
  if (result.code !== 0) throw new Error(`the connections failed (${result.code}): ${result.stderr}`);
  return result.stdout.trim().split(' ');
}

test.serial('after the manifest is applied again, intercept puts the agent back in the path; uninstall then leaves the workload as the manifest says', async (t) => {
  t.timeout(420_000, 'four rollouts: the injection, the apply, the repair and the uninstall');
  await tp(['intercept', 'raw', '--port', echoPort()]);
  t.deepEqual(await whereConnectionsGo(), Array<string>(CONNECTIONS).fill('laptop'), 'the first intercept reaches the laptop');
  await laptop!.tp(['leave', 'raw']);

  // The manifest as a deploy would apply it next: the app container changed (a new variable).
  const manifest = fixture(MANIFEST, env!.namespace).replace('env: [{name: PORT, value: "9000"}]', 'env: [{name: PORT, value: "9000"}, {name: RELEASE, value: "2"}]');
  t.true(manifest.includes('RELEASE'));
  await kubectl(['apply', '-f', '-'], { input: manifest });
  await kubectl(['-n', env!.namespace, 'rollout', 'status', 'deployment/raw', '--timeout=90s'], { timeoutMs: 100_000 });
  t.deepEqual((await containersOf()).map((c) => [c.name, c.ports?.map((p) => p.name)]), [['echo', ['echo']], ['traffic-agent', ['echo', 'tpagent-health']]], 'apply gave the app its port name back and kept the agent');
  // Once the endpoints follow the new pods, the Service skips the agent.
  const skipping = await eventually(async () => {
    const went = await whereConnectionsGo();
    if (went.some((w) => w !== 'app')) throw new Error(`connections went to: ${went.join(' ')}`);
    return went;
  }, 60_000);
  t.deepEqual(skipping, Array<string>(CONNECTIONS).fill('app'), 'the Service skips the agent now');

  const { stdout } = await tp(['intercept', 'raw', '--port', echoPort(), '--output', 'json']);
  t.is((JSON.parse(stdout) as { intercept: { state: string } }).intercept.state, 'ACTIVE');
  t.teardown(() => laptop!.tp(['leave', 'raw']).catch(() => undefined));
  t.deepEqual(await whereConnectionsGo(), Array<string>(CONNECTIONS).fill('laptop'), 'the repaired agent gets every connection');
  const [app] = await containersOf();
  t.deepEqual(app.ports?.map((p) => p.name), ['tp-echo'], 'the app gave its port name to the agent again');
  t.true(app.env?.some((e) => e.name === 'RELEASE' && e.value === '2'), 'the repair keeps what the manifest changed');
  await laptop!.tp(['leave', 'raw']);
  // A repaired workload is what tp renders: the next intercept changes nothing (no new rollout).
  const repaired = await templateMark();
  t.truthy(repaired);
  await tp(['intercept', 'raw', '--port', echoPort()]);
  t.is(await templateMark(), repaired, 'the pod template was not written again');
  await laptop!.tp(['leave', 'raw']);

  await tp(['uninstall', '--agent', 'raw']);
  const restored = await containersOf();
  t.deepEqual(restored.map((c) => c.name), ['echo'], 'the agent is gone');
  t.deepEqual(restored[0].ports?.map((p) => p.name), ['echo']);
  t.deepEqual(restored[0].env?.map((e) => [e.name, e.value]), [['PORT', '9000'], ['RELEASE', '2']], 'uninstall leaves the app as the re-applied manifest said, not as it was at the first injection');
  const deployment = JSON.parse(await kubectl(['-n', env!.namespace, 'get', 'deployment', 'raw', '-o', 'json'])) as { metadata: { annotations?: Record<string, string> }; spec: { template: { metadata: { annotations?: Record<string, string> } } } };
  const annotations = [deployment.metadata.annotations, deployment.spec.template.metadata.annotations];
  t.deepEqual(annotations.flatMap((a) => Object.keys(a ?? {})).filter((k) => k.startsWith('tp.dev/')), [], 'no tp annotation is left on the workload or its pod template');
  t.deepEqual(await whereConnectionsGo(), Array<string>(CONNECTIONS).fill('app'), 'after uninstall the app answers');
});

test.serial('a manifest applied again with its named port on another number: the agent forwards to the new number, under the one name', async (t) => {
  t.timeout(420_000, 'four rollouts: the injection, the apply, the repair and the uninstall');
  await tp(['intercept', 'raw', '--port', echoPort()]);
  await laptop!.tp(['leave', 'raw']);
  const moved = fixture(MANIFEST, env!.namespace).replace('env: [{name: PORT, value: "9000"}]', 'env: [{name: PORT, value: "9001"}]').replace('ports: [{name: echo, containerPort: 9000}]', 'ports: [{name: echo, containerPort: 9001}]');
  t.true(moved.includes('containerPort: 9001'));
  await kubectl(['apply', '-f', '-'], { input: moved });
  await kubectl(['-n', env!.namespace, 'rollout', 'status', 'deployment/raw', '--timeout=90s'], { timeoutMs: 100_000 });

  await tp(['intercept', 'raw', '--port', echoPort()]);
  t.teardown(() => laptop!.tp(['leave', 'raw']).catch(() => undefined));
  t.deepEqual(await whereConnectionsGo(), Array<string>(CONNECTIONS).fill('laptop'), 'the repaired agent gets every connection');
  const [app, agent] = await containersOf();
  t.deepEqual(app.ports?.map((p) => [p.name, p.containerPort]), [['tp-echo', 9001]]);
  t.deepEqual(agent.ports?.map((p) => p.name), ['echo', 'tpagent-health'], 'one agent port of that name');
  t.deepEqual((JSON.parse(agent.env!.find((e) => e.name === 'TP_AGENT_PORTS')!.value!) as { appPort: number }[]).map((p) => p.appPort), [9001], 'no mapping to the port the app left');
  await laptop!.tp(['leave', 'raw']);
  t.deepEqual(await whereConnectionsGo(), Array<string>(CONNECTIONS).fill('app'), 'without an intercept the agent passes connections to the app on its new port');
  await tp(['uninstall', '--agent', 'raw']);
  t.deepEqual((await containersOf()).map((c) => c.name), ['echo']);
});

async function templateMark(): Promise<string> {
  return kubectl(['-n', env!.namespace, 'get', 'deployment', 'raw', '-o', 'jsonpath={.spec.template.metadata.annotations.tp\\.dev/agent-injection}']);
}

type Container = { name: string; ports?: { name?: string; containerPort: number }[]; env?: { name: string; value?: string }[] };

async function containersOf(): Promise<Container[]> {
  return JSON.parse(await kubectl(['-n', env!.namespace, 'get', 'deployment', 'raw', '-o', 'jsonpath={.spec.template.spec.containers}'])) as Container[];
}
