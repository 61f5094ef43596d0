// The Kubernetes API server restarts. The daemon reaches the manager through the API's
// port-forward, so every tunnel dies with it; the daemon must reconnect by itself, and a global
// intercept made before the restart must be ACTIVE again with a pod's requests reaching the
// laptop. How the API server is restarted depends on the cluster: the shell command in
// $TP_E2E_RESTART_APISERVER does it and returns once the API answers again
// (test/sandbox/run-tests.ts sets it; a run against another cluster supplies its own, or the test
// is skipped, saying so).
import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from '../helpers/laptop.js';
import { answeredBy, curlFromPod, localServer, type LocalServer } from '../intercept/helpers.js';
import { bulkSha256, curlThrough, fileSha256, linkStatus, setUpFaults, startDownload, tearDownFaults, type FaultEnv } from './helpers.js';

const execFileAsync = promisify(execFile);
const RESTART_COMMAND = process.env.TP_E2E_RESTART_APISERVER;
/** After the restart command returns, the intercept works again and new requests succeed within this long. */
const RECOVERY_BOUND_MS = 60_000;
const SMALL = 1 << 20;

let env: FaultEnv;
let server: LocalServer;

if (!RESTART_COMMAND) {
  console.log('SKIPPED faults/apiserver-restart: TP_E2E_RESTART_APISERVER is not set (a shell command that restarts the cluster\'s API server and returns once it answers; npm run test:sandbox sets it for the sandbox)');
}
const withRestart = RESTART_COMMAND ? test.serial : test.serial.skip;

test.before(async () => {
  if (!RESTART_COMMAND) return;
  env = await setUpFaults('tp-fault-api');
  server = await localServer('dev');
});

test.after.always(async () => {
  await tearDownFaults(env);
  await server?.close();
});

interface InterceptState {
  name: string;
  state: string;
}

async function interceptStates(): Promise<InterceptState[]> {
  const status = JSON.parse((await env.laptop.tp(['status', '--output', 'json'])).stdout) as { features: { intercepts: InterceptState[] } };
  return status.features.intercepts.map(({ name, state }) => ({ name, state }));
}

withRestart('after an API server restart the daemon reconnects by itself and a global intercept is ACTIVE and reaches the laptop again', async (t) => {
  const listeners = (JSON.parse((await env.laptop.tp(['status', '--output', 'json'])).stdout) as { listeners: { socks: string; http: string } }).listeners;
  await env.tp(['intercept', 'web', '--port', String(server.port), '-n', env.namespace]);
  t.is(answeredBy(await curlFromPod(env.namespace, [`http://web.${env.namespace}/before`])), 'laptop dev');
  const before = await linkStatus(env);

  const started = Date.now();
  await execFileAsync('sh', ['-c', RESTART_COMMAND!], { timeout: 120_000 });
  const restartedAt = Date.now();
  t.log(`the restart command took ${restartedAt - started} ms`);

  const link = await eventually(async () => {
    const current = await linkStatus(env);
    if (current.reconnects <= before.reconnects || current.state !== 'connected') throw new Error(`link ${current.state}, ${current.reconnects} reconnects: ${current.lastError ?? ''}`);
    return current;
  }, RECOVERY_BOUND_MS, 250);
  t.log(`tunnels up again ${Date.now() - restartedAt} ms after the API server answered (seen through tp status)`);
  // The daemon recorded the outage: when its tunnels died (during the restart) and when one was back.
  const outage = link.outage;
  t.truthy(outage?.until, JSON.stringify(link));
  t.true(Date.parse(outage!.since) >= started - 1000, JSON.stringify(outage));
  t.log(`outage as tp status reports it: ${Date.parse(outage!.until!) - Date.parse(outage!.since)} ms, ${JSON.stringify(outage)}`);
  await eventually(async () => {
    const states = await interceptStates();
    if (states.length !== 1 || states[0].state !== 'ACTIVE') throw new Error(`intercepts ${JSON.stringify(states)}`);
  }, RECOVERY_BOUND_MS - (Date.now() - restartedAt), 250);
  t.log(`intercept ACTIVE ${Date.now() - restartedAt} ms after the API server answered`);
  await eventually(async () => {
    const by = answeredBy(await curlFromPod(env.namespace, [`http://web.${env.namespace}/after`]));
    if (by !== 'laptop dev') throw new Error(`answered by ${by}`);
  }, RECOVERY_BOUND_MS - (Date.now() - restartedAt), 250);
  t.log(`a pod's request reached the laptop ${Date.now() - restartedAt} ms after the API server answered`);
  t.true(server.requests.some((r) => r.url === '/after'));

  const file = join(env.laptop.home, 'small-after-restart');
  const { code, stderr } = await startDownload(env.laptop, 'socks5', curlThrough('socks5', listeners, `http://bulk.${env.namespace}/${SMALL}`, ['--fail', '--max-time', '20', '-o', file]), file).done;
  t.is(code, 0, stderr);
  t.is(fileSha256(file), bulkSha256(SMALL));
  t.deepEqual(await interceptStates(), [{ name: 'web', state: 'ACTIVE' }]);
});
