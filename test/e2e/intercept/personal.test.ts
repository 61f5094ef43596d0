// Personal intercepts end to end: two laptops (two daemons, two client sessions) hold personal
// intercepts on the same workload with different headers; requests from a pod go to the laptop
// whose header they carry and to the pods otherwise — on separate connections and interleaved on
// one keep-alive connection.
import test from 'ava';
import { execInPod } from '../helpers/cluster.js';
import type { Laptop } from '../helpers/laptop.js';
import { answeredBy, curlFromPod, localServer, setUpNamespace, tearDownNamespace, type InterceptEnv, type LocalServer } from './helpers.js';

let env: InterceptEnv;
const laptops: Laptop[] = [];
const servers: LocalServer[] = [];

test.before(async () => {
  env = await setUpNamespace('tp-ic-personal');
  for (const who of ['alice', 'bob']) {
    const laptop = env.newLaptop(who);
    laptops.push(laptop);
    servers.push(await localServer(who));
    await env.tp(laptop, ['connect', '-n', env.namespace], 120_000);
  }
});

test.after.always(async () => {
  for (const laptop of laptops) await laptop.cleanup();
  for (const server of servers) await server.close();
  await tearDownNamespace(env);
});

test.serial('two users hold personal intercepts on one workload; each gets only requests with their header, everyone else the pods', async (t) => {
  const [alice, bob] = laptops;
  await env.tp(alice, ['intercept', 'web', '--port', String(servers[0].port), '--http-header', 'x-dev=alice']);
  await env.tp(bob, ['intercept', 'web', '--port', String(servers[1].port), '--http-header', 'X-Dev=bob']);
  const url = `http://web.${env.namespace}/`;
  for (let i = 0; i < 3; i++) {
    t.is(answeredBy(await curlFromPod(env.namespace, ['-H', 'x-dev: alice', `${url}a${i}`])), 'laptop alice');
    t.is(answeredBy(await curlFromPod(env.namespace, ['-H', 'X-DEV: bob', `${url}b${i}`])), 'laptop bob');
    t.regex(answeredBy(await curlFromPod(env.namespace, [`${url}p${i}`])), /^pod web-/);
    t.regex(answeredBy(await curlFromPod(env.namespace, ['-H', 'x-dev: carol', `${url}c${i}`])), /^pod web-/);
  }
  const list = JSON.parse((await env.tp(alice, ['list', '-n', env.namespace, '--output', 'json'])).stdout) as { workloads: { name: string; intercepts: { mode: string; headers: Record<string, string> }[] }[] };
  const holders = list.workloads.find((w) => w.name === 'web')!.intercepts.map((i) => `${i.mode} ${JSON.stringify(i.headers)}`).sort();
  t.deepEqual(holders, ['personal {"x-dev":"alice"}', 'personal {"x-dev":"bob"}']);
});

test.serial('on one keep-alive connection, interleaved requests each go to the side their headers pick', async (t) => {
  const url = `http://web.${env.namespace}/`;
  const format = '\n[%{num_connects}]\n';
  const args = ['-sS', '--max-time', '10', '-w', format, '-H', 'x-dev: alice', `${url}k1`];
  for (const [path, header] of [['k2', ''], ['k3', 'x-dev: bob'], ['k4', 'x-dev: alice'], ['k5', '']]) {
    args.push('--next', '-w', format, ...(header ? ['-H', header] : []), `${url}${path}`);
  }
  const result = await execInPod('client', ['curl', ...args], env.namespace);
  t.is(result.code, 0, result.stderr);
  const parts = result.stdout.split(/\n\[(\d+)\]\n/);
  const answers = [];
  const connects = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    answers.push(answeredBy(parts[i].trim()));
    connects.push(Number(parts[i + 1]));
  }
  t.deepEqual(answers.map((a) => (a.startsWith('pod ') ? 'pod' : a)), ['laptop alice', 'pod', 'laptop bob', 'laptop alice', 'pod']);
  t.deepEqual(connects, [1, 0, 0, 0, 0], 'curl reused one connection for all five requests');
});

test.serial('when one user leaves, the other keeps their intercept', async (t) => {
  const [alice] = laptops;
  await alice.tp(['leave', 'web']);
  const url = `http://web.${env.namespace}/`;
  t.regex(answeredBy(await curlFromPod(env.namespace, ['-H', 'x-dev: alice', `${url}left`])), /^pod web-/);
  t.is(answeredBy(await curlFromPod(env.namespace, ['-H', 'x-dev: bob', `${url}stays`])), 'laptop bob');
});
