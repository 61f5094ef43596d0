// `tp ingest` end to end (docs/volumes.md), as the unprivileged laptop user: the pod's environment
// and files without intercepting anything. Two laptops ingest the same workload at once, each with
// its own copy, while requests through the Service keep reaching the pods; `-- cmd` reads the env
// and the files and the ingest ends with it; `--leave` ends one that was started without a command;
// after the manager restarts, an ingest's copy follows the pod again.
import test from 'ava';
import { coreApi, kubectl } from '../helpers/cluster.js';
import { eventually, type Laptop } from '../helpers/laptop.js';
import { answeredBy, curlFromPod, disconnectLaptop, setUpWorkloads, type InterceptEnv } from '../intercept/helpers.js';

const NS = 'tp-vol-ingest';
let env: InterceptEnv;
let alice: Laptop;
let bob: Laptop;

test.before(async () => {
  env = await setUpWorkloads(NS, 'test/e2e/volumes/fixtures/files.yaml.tmpl', ['files']);
  alice = env.newLaptop('alice');
  bob = env.newLaptop('bob');
  await env.tp(alice, ['connect', '-n', env.namespace], 120_000);
  await env.tp(bob, ['connect', '-n', env.namespace], 120_000);
});
test.after.always(async () => {
  await bob?.cleanup();
  await disconnectLaptop({ env, laptop: alice });
});

const exists = (laptop: Laptop, path: string): Promise<boolean> => laptop.run('test', ['-e', path]).then(() => true, () => false);

test.serial('two users ingest one workload: each gets env and files, the pods keep answering', async (t) => {
  const { stdout } = await env.tp(bob, ['ingest', 'files', '--output', 'json']);
  const bobs = JSON.parse(stdout) as { name: string; environment: Record<string, string> };
  t.is(bobs.environment.PORT, '8080');
  t.is((await bob.run('cat', [`${bobs.environment.TP_ROOT}/etc/files-app/app.conf`])).stdout, 'colour=blue\n');

  const body = await curlFromPod(NS, [`http://files.${NS}/hello`]);
  t.regex(answeredBy(body), /^pod files-/, 'traffic still reaches the app while it is ingested');

  const script = 'echo "port=$PORT container=$TP_CONTAINER"; cat "$TP_ROOT/etc/files-secret/password"; echo; test -f "$TP_ROOT/var/cache/files-app/tick" && echo tick-ok; echo "root=$TP_ROOT"';
  const { stdout: out } = await env.tp(alice, ['ingest', 'files', '--', 'sh', '-c', script]);
  const lines = out.trim().split('\n');
  t.deepEqual(lines.slice(0, 3), ['port=8080 container=app', 's3cret-for-files', 'tick-ok']);
  const alicesRoot = lines[3].slice('root='.length);
  t.not(alicesRoot, bobs.environment.TP_ROOT, 'each user has a copy of their own');
  t.false(await exists(alice, alicesRoot), 'the copy goes when the command ends');
  t.true(await exists(bob, bobs.environment.TP_ROOT), 'the other user\'s ingest is untouched');

  const again = await eventually(async () => answeredBy(await curlFromPod(NS, [`http://files.${NS}/again`])));
  t.regex(again, /^pod files-/);
  await env.tp(bob, ['ingest', 'files', '--leave']);
  t.false(await exists(bob, bobs.environment.TP_ROOT), '--leave removes the copy');
});

test.serial('after the manager restarts, an ingest\'s copy follows the pod again', async (t) => {
  const { stdout } = await env.tp(bob, ['ingest', 'files', '--output', 'json']);
  const root = (JSON.parse(stdout) as { environment: Record<string, string> }).environment.TP_ROOT;
  t.teardown(() => env.tp(bob, ['ingest', 'files', '--leave']).then(() => undefined, () => undefined));
  const pods = await coreApi().listNamespacedPod({ namespace: env.managerNamespace, labelSelector: 'app.kubernetes.io/name=traffic-manager' });
  await kubectl(['-n', env.managerNamespace, 'delete', 'pod', ...pods.items.map((p) => p.metadata!.name!), '--wait=false']);
  // A change made after the restart reaches the copy only through a new stream from the new manager.
  await eventually(async () => {
    const fresh = await coreApi().listNamespacedPod({ namespace: env.managerNamespace, labelSelector: 'app.kubernetes.io/name=traffic-manager' });
    const gone = !fresh.items.some((p) => pods.items.some((old) => old.metadata!.name === p.metadata!.name));
    if (!gone || !fresh.items.some((p) => p.status?.phase === 'Running')) throw new Error('the old manager is still there, or no new one runs yet');
  }, 90_000, 1000);
  const config = (colour: string) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'files-config', namespace: NS }, data: { 'app.conf': `colour=${colour}\n` } });
  await kubectl(['-n', NS, 'apply', '-f', '-'], { input: config('purple') });
  t.teardown(() => kubectl(['-n', NS, 'apply', '-f', '-'], { input: config('blue') }).then(() => undefined));
  const text = await eventually(async () => {
    const now = (await bob.run('cat', [`${root}/etc/files-app/app.conf`])).stdout;
    if (!now.includes('purple')) throw new Error(now);
    return now;
  }, 120_000, 1000);
  t.is(text, 'colour=purple\n');
});
