// A workload whose manifest is applied again after tp injected its traffic-agent (kubectl apply, a
// deploy): apply keeps the agent container, which the manifest does not mention, but gives the
// app's port its name back, and Kubernetes resolves a Service's named targetPort to the first
// container with that name: the app. `tp intercept` must then fail and say why, never answer
// ACTIVE while every connection goes to the app; `tp uninstall --agent` and a new intercept
// bring the traffic to the laptop again.
import test from 'ava';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { execInPod, kubectl } from '../helpers/cluster.js';
import { fixture } from '../helpers/images.js';
import type { Laptop } from '../helpers/laptop.js';
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

test.serial('after the manifest is applied again, intercept fails and says why; uninstall and intercept again reach the laptop', async (t) => {
  await tp(['intercept', 'raw', '--port', echoPort()]);
  t.deepEqual(await whereConnectionsGo(), Array<string>(CONNECTIONS).fill('laptop'), 'the first intercept reaches the laptop');
  await laptop!.tp(['leave', 'raw']);

  await kubectl(['apply', '-f', '-'], { input: fixture(MANIFEST, env!.namespace) });
  await kubectl(['-n', env!.namespace, 'rollout', 'status', 'deployment/raw', '--timeout=90s'], { timeoutMs: 100_000 });
  const containers = JSON.parse(await kubectl(['-n', env!.namespace, 'get', 'deployment', 'raw', '-o', 'jsonpath={.spec.template.spec.containers}'])) as { name: string; ports?: { name?: string }[] }[];
  t.deepEqual(containers.map((c) => [c.name, c.ports?.map((p) => p.name)]), [['echo', ['echo']], ['traffic-agent', ['echo']]], 'apply gave the app its port name back and kept the agent');

  const failed = await tp(['intercept', 'raw', '--port', echoPort(), '--output', 'json']).then(
    () => undefined,
    (err: unknown) => (JSON.parse((err as { stdout: string }).stdout) as { error: { code: string; message: string } }).error,
  );
  t.truthy(failed, 'the intercept must not answer ACTIVE while the Service skips the agent');
  t.is(failed?.code, 'TP_ERR_INTERCEPT_NOT_READY');
  t.regex(failed?.message ?? '', /sends connections to port 9000 of raw-.*not to the traffic-agent's port 9900/);
  t.regex(failed?.message ?? '', /tp uninstall --agent raw/);
  t.deepEqual(await whereConnectionsGo(), Array<string>(CONNECTIONS).fill('app'), 'with no intercept the app answers');

  await tp(['uninstall', '--agent', 'raw']);
  await tp(['intercept', 'raw', '--port', echoPort()]);
  t.teardown(() => laptop!.tp(['leave', 'raw']).catch(() => undefined));
  t.deepEqual(await whereConnectionsGo(), Array<string>(CONNECTIONS).fill('laptop'), 'after uninstall and a new intercept the laptop gets every connection');
});
