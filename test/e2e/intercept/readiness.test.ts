// When `tp intercept` says ACTIVE, traffic reaches the laptop: requests sent from a pod through
// the Service right after it returns all come to the laptop, none time out on a pod that is
// going away and none reach the app, though the cluster deletes pods gracefully and kube-proxy
// follows the Endpoints with a lag. The same holds the other way for `tp leave` and
// `tp uninstall`: when they return, every request reaches the app again.
import test from 'ava';
import { execInPod } from '../helpers/cluster.js';
import type { Laptop } from '../helpers/laptop.js';
import { answeredBy, connectLaptop, disconnectLaptop, type InterceptEnv, type LocalServer } from './helpers.js';

let env: InterceptEnv;
let laptop: Laptop;
let server: LocalServer;

test.before(async () => {
  ({ env, laptop, server } = await connectLaptop('tp-ic-ready', 'rita'));
});
test.after.always(() => disconnectLaptop({ env, laptop, server }));

const tp = (args: string[], timeoutMs?: number) => env.tp(laptop, [...args, '-n', env.namespace], timeoutMs);

const REQUESTS = 40;
const SPACING_S = 0.05;
const REQUEST_TIMEOUT_S = 5;

/**
 * From the client pod, REQUESTS requests to `url`, one started every SPACING_S seconds (so they
 * cover the first two seconds), each allowed REQUEST_TIMEOUT_S; returns who answered each one
 * ("laptop <label>", "pod <name>") or curl's error.
 */
async function burst(url: string): Promise<string[]> {
  const script = [
    `for i in $(seq 1 ${REQUESTS}); do`,
    `  ( out=$(curl -sS --max-time ${REQUEST_TIMEOUT_S} "${url}/burst-$i" 2>&1); printf '%s\\t%s\\n' "$i" "$(printf '%s' "$out" | head -c 300 | tr '\\n\\t' '  ')" ) &`,
    `  sleep ${SPACING_S}`,
    'done; wait',
  ].join('\n');
  const result = await execInPod('client', ['bash', '-c', script], env.namespace, 60_000);
  if (result.code !== 0) throw new Error(`the request burst failed (${result.code}): ${result.stderr}`);
  const lines = result.stdout.trim().split('\n').filter(Boolean);
  return lines.map((line) => {
    const body = line.slice(line.indexOf('\t') + 1);
    return body.startsWith('curl:') ? body : answeredBy(body);
  });
}

function tally(answers: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const answer of answers) {
    const key = answer.startsWith('pod ') ? 'pod (the app)' : answer;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

for (const [workload, port] of [['web', 'http'], ['webnum', '80']] as const) {
  test.serial(`right after tp intercept ${workload} returns, every request through the Service reaches the laptop; right after tp leave, the app`, async (t) => {
    const { stderr } = await tp(['intercept', workload, '--port', `${server.port}:${port}`]);
    const answers = await burst(`http://${workload}.${env.namespace}`);
    t.log(`progress shown:\n${stderr.trim()}`);
    t.is(answers.length, REQUESTS);
    t.deepEqual(tally(answers), { 'laptop rita': REQUESTS });

    await laptop.tp(['leave', workload]);
    t.deepEqual(tally(await burst(`http://${workload}.${env.namespace}`)), { 'pod (the app)': REQUESTS }, 'and right after tp leave, every request reaches the app');
  });

  test.serial(`right after tp uninstall --agent ${workload} returns, every request reaches the app again`, async (t) => {
    await tp(['uninstall', '--agent', workload]);
    const answers = await burst(`http://${workload}.${env.namespace}`);
    t.is(answers.length, REQUESTS);
    t.deepEqual(tally(answers), { 'pod (the app)': REQUESTS });
  });
}

test.serial('tp intercept shows what it is waiting for while the pods roll', async (t) => {
  const { stderr } = await tp(['intercept', 'envapp', '--port', `${server.port}:http`]);
  t.teardown(() => laptop.tp(['leave', 'envapp']).then(() => undefined, () => undefined));
  t.regex(stderr, /injected the traffic-agent into Deployment\/envapp/);
  t.regex(stderr, /pods? ready with the traffic-agent/);
  t.regex(stderr, /Service envapp: endpoints are in place; giving kube-proxy \d s to apply them/);
});
