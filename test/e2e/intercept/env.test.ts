// The intercepted pod's environment end to end: --env-file (docker and sh syntax) and --env-json
// carry the app container's variables — a literal, one from a ConfigMap key, envFrom, and the pod
// name from the downward API — and `-- <cmd>` runs with them plus TP_INTERCEPT_ID, TP_CONTAINER
// and TP_POD_IP, leaving the intercept when the command exits with its exit code.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { coreApi } from '../helpers/cluster.js';
import type { Laptop } from '../helpers/laptop.js';
import { connectLaptop, disconnectLaptop, type InterceptEnv, type LocalServer } from './helpers.js';

let env: InterceptEnv;
let laptop: Laptop;
let server: LocalServer;

test.before(async () => {
  ({ env, laptop, server } = await connectLaptop('tp-ic-env', 'dev'));
});
test.after.always(() => disconnectLaptop({ env, laptop, server }));

async function envappPod(): Promise<string> {
  const pods = await coreApi().listNamespacedPod({ namespace: env.namespace, labelSelector: 'app=envapp' });
  return pods.items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata!.name!)[0];
}

test.serial('--env-file and --env-json hold the pod\'s variables, from a ConfigMap and the downward API too', async (t) => {
  const envFile = join(laptop.home, 'envapp.env');
  const jsonFile = join(laptop.home, 'envapp.json');
  // Node 20 takes a script's `--env-file F` for its own option and exits if F does not exist
  // (nodejs/node#54232): the file is made first here, and --env-out is tested below.
  await laptop.run('touch', [envFile]);
  await env.tp(laptop, ['intercept', 'envapp', '--port', String(server.port), '--env-file', envFile, '--env-json', jsonFile]);
  t.teardown(() => laptop.tp(['leave', 'envapp']).catch(() => undefined));
  const pod = await envappPod();
  const json = JSON.parse(readFileSync(jsonFile, 'utf8')) as Record<string, string>;
  t.is(json.GREETING, 'hello from a configmap');
  t.is(json.FROM_ENVFROM, 'yes');
  t.is(json.PORT, '8080');
  t.is(json.MY_POD_NAME, pod);
  t.is(json.TP_CONTAINER, 'app');
  t.truthy(json.TP_INTERCEPT_ID);
  t.regex(json.TP_POD_IP, /^198\.18\./);
  const docker = readFileSync(envFile, 'utf8').split('\n');
  t.true(docker.includes('GREETING=hello from a configmap'));
  t.true(docker.includes(`MY_POD_NAME=${pod}`));
});

test.serial('sh syntax quotes values so that a shell reads them back unchanged', async (t) => {
  const shFile = join(laptop.home, 'envapp.sh');
  await env.tp(laptop, ['intercept', 'envapp', '--port', String(server.port), '--env-out', shFile, '--env-syntax', 'sh']);
  t.teardown(() => laptop.tp(['leave', 'envapp']).catch(() => undefined));
  const { stdout } = await laptop.run('sh', ['-c', `. '${shFile}' && printf '%s\\n%s\\n' "$QUOTED" "$GREETING"`]);
  t.is(stdout, 'it\'s $HOME; "x"\nhello from a configmap\n');
});

test.serial('-- env runs with the pod\'s environment, and the intercept ends with the command', async (t) => {
  const { stdout } = await env.tp(laptop, ['intercept', 'envapp', '--port', String(server.port), '--', 'env']);
  const vars = Object.fromEntries(stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  t.is(vars.GREETING, 'hello from a configmap');
  t.is(vars.MY_POD_NAME, await envappPod());
  t.is(vars.TP_CONTAINER, 'app');
  t.truthy(vars.TP_INTERCEPT_ID);
  t.truthy(vars.TP_POD_IP);
  t.truthy(vars.HTTP_PROXY, 'the command runs through tp run\'s shims');
  const status = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { features: { intercepts: unknown[] } };
  t.deepEqual(status.features.intercepts, []);
});

test.serial('the command\'s exit code is tp intercept\'s', async (t) => {
  const failed = await env.tp(laptop, ['intercept', 'envapp', '--port', String(server.port), '--', 'sh', '-c', 'exit 7']).then(() => 0, (e: { code: number }) => e.code);
  t.is(failed, 7);
});
