// Volume copies end to end (docs/volumes.md), as the unprivileged laptop user: `tp intercept
// --mount` gives the command the pod's ConfigMap, Secret, service account token and emptyDir
// under $TP_ROOT, laid out by their paths in the pod; the copy follows a `kubectl apply` of the
// ConfigMap and the pod's own writes; `--mount-rw` sends a local write to the pod; the copy is
// gone after `tp leave` and after the command exits; a copy over the cap fails naming the mount,
// and --mount-exclude leaves that mount out.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { coreApi, execInPod, kubectl } from '../helpers/cluster.js';
import { eventually, type Laptop } from '../helpers/laptop.js';
import { disconnectLaptop, localServer, setUpWorkloads, type InterceptEnv, type LocalServer } from '../intercept/helpers.js';

const NS = 'tp-vol-copy';
let env: InterceptEnv;
let laptop: Laptop;
let server: LocalServer;

test.before(async () => {
  env = await setUpWorkloads(NS, 'test/e2e/volumes/fixtures/files.yaml.tmpl', ['files']);
  laptop = env.newLaptop('dev');
  server = await localServer('dev');
  await env.tp(laptop, ['connect', '-n', env.namespace], 120_000);
});
test.after.always(() => disconnectLaptop({ env, laptop, server }));

const intercept = (...extra: string[]) => env.tp(laptop, ['intercept', 'files', '--port', String(server.port), ...extra]);
const read = async (path: string): Promise<string> => (await laptop.run('cat', [path])).stdout;
const exists = (path: string): Promise<boolean> => laptop.run('test', ['-e', path]).then(() => true, () => false);

async function filesPod(): Promise<string> {
  const pods = await coreApi().listNamespacedPod({ namespace: NS, labelSelector: 'app=files' });
  return pods.items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata!.name!)[0];
}

test.serial('-- cmd reads the ConfigMap, the Secret, the token and the emptyDir under $TP_ROOT; the copy goes with the command', async (t) => {
  const script = [
    'cat "$TP_ROOT/etc/files-app/app.conf"',
    'cat "$TP_ROOT/etc/files-secret/password"; echo',
    'cat "$TP_ROOT/var/run/secrets/kubernetes.io/serviceaccount/namespace"; echo',
    'test -s "$TP_ROOT/var/run/secrets/kubernetes.io/serviceaccount/token" && echo token-ok',
    'test -d "$TP_ROOT/var/cache/files-app/empty" && echo empty-dir-ok',
    'readlink "$TP_ROOT/etc/files-app/app.conf"',
    'stat -c %a "$TP_ROOT/etc/files-app/..data/app.conf" "$TP_ROOT"',
    'echo "root=$TP_ROOT"',
  ].join('; ');
  const { stdout } = await intercept('--mount', '--', 'sh', '-c', script);
  const lines = stdout.trim().split('\n');
  t.is(lines[0], 'colour=blue');
  t.is(lines[1], 's3cret-for-files');
  t.is(lines[2], NS);
  t.is(lines[3], 'token-ok');
  t.is(lines[4], 'empty-dir-ok');
  t.is(lines[5], '..data/app.conf', 'a ConfigMap key stays a symlink through ..data');
  t.deepEqual(lines.slice(6, 8), ['644', '700'], 'the file keeps its mode; the copy\'s root is private');
  const root = lines[8].slice('root='.length);
  t.true(root.startsWith(laptop.home), root);
  t.false(await exists(root), 'the copy is removed when the command exits');
});

test.serial('the copy follows a kubectl apply of the ConfigMap and the pod\'s writes, and goes with tp leave', async (t) => {
  const { stdout } = await intercept('--output', 'json');
  const root = (JSON.parse(stdout) as { environment: Record<string, string> }).environment.TP_ROOT;
  t.teardown(() => laptop.tp(['leave', 'files']).catch(() => undefined));
  t.truthy(root);
  const first = await read(`${root}/var/cache/files-app/tick`);
  const next = await eventually(async () => {
    const now = await read(`${root}/var/cache/files-app/tick`).catch(() => first);
    if (now === first) throw new Error('tick not updated yet');
    return now;
  }, 15_000, 200);
  t.not(next, first, 'a file the pod writes every second shows up changed');
  await kubectl(['-n', NS, 'apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'files-config', namespace: NS }, data: { 'app.conf': 'colour=green\n' } }) });
  t.teardown(() => kubectl(['-n', NS, 'apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'files-config', namespace: NS }, data: { 'app.conf': 'colour=blue\n' } }) }).then(() => undefined));
  // A real kubelet takes up to its sync period (about a minute) to update the pod; tp then follows within seconds.
  const updated = await eventually(async () => {
    const text = await read(`${root}/etc/files-app/app.conf`);
    if (!text.includes('green')) throw new Error(`still ${text}`);
    return text;
  }, 120_000, 300);
  t.is(updated, 'colour=green\n');
  await laptop.tp(['leave', 'files']);
  t.false(await exists(root), 'tp leave removes the copy');
});

test.serial('when the pod goes, the copy follows the workload\'s new pod', async (t) => {
  const { stdout } = await intercept('--output', 'json');
  const root = (JSON.parse(stdout) as { environment: Record<string, string> }).environment.TP_ROOT;
  t.teardown(() => laptop.tp(['leave', 'files']).catch(() => undefined));
  const old = await filesPod();
  await laptop.run('sh', ['-c', `printf stale > '${root}/var/cache/files-app/stale-marker'`]);
  await kubectl(['-n', NS, 'delete', 'pod', old, '--wait=false']);
  // The new pod's emptyDir starts afresh: its first tick replaces the copy's, and what the old pod had goes.
  await eventually(async () => {
    if (await exists(`${root}/var/cache/files-app/stale-marker`)) throw new Error('still the old copy');
    return true;
  }, 120_000, 500);
  const pod = await eventually(async () => {
    const now = await filesPod();
    if (now === old) throw new Error('no new pod yet');
    return now;
  }, 60_000);
  const inPod = await execInPod(pod, ['cat', '/cache/tick'], NS, 20_000, 'writer');
  const first = await read(`${root}/var/cache/files-app/tick`);
  t.truthy(inPod.stdout);
  t.not(first, '', 'the copy has the new pod\'s tick');
  t.true(await exists(`${root}/etc/files-app/app.conf`));
});

test.serial('--mount-rw: a file written on the laptop appears in the pod\'s emptyDir', async (t) => {
  const dir = `${laptop.home}/files-rw`;
  await intercept(`--mount=${dir}`, '--mount-rw');
  t.teardown(() => laptop.tp(['leave', 'files']).catch(() => undefined));
  await laptop.run('sh', ['-c', `printf 'from the laptop\\n' > '${dir}/var/cache/files-app/from-laptop'`]);
  const pod = await filesPod();
  const seen = await eventually(async () => {
    const result = await execInPod(pod, ['cat', '/cache/from-laptop'], NS, 20_000, 'writer');
    if (result.code !== 0) throw new Error(result.stderr);
    return result.stdout;
  }, 20_000, 300);
  t.is(seen, 'from the laptop\n');
  // The pod's later change wins after it.
  await execInPod(pod, ['sh', '-c', 'printf "from the pod\\n" > /cache/from-laptop'], NS, 20_000, 'writer');
  const back = await eventually(async () => {
    const text = await read(`${dir}/var/cache/files-app/from-laptop`);
    if (!text.includes('pod')) throw new Error(text);
    return text;
  }, 20_000, 300);
  t.is(back, 'from the pod\n');
  // Read-only mounts stay the pod's: the laptop cannot write through to them.
  await laptop.tp(['leave', 'files']);
  t.false(await exists(dir));
});

test.serial('a copy over the cap fails naming the mount; --mount-exclude leaves it out', async (t) => {
  const failed = await intercept('--mount-max-mb', '1', '--output', 'json').then(() => null, (e: { stdout: string; stderr: string }) => e);
  t.truthy(failed, 'the intercept must fail');
  const text = `${failed!.stdout}${failed!.stderr}`;
  t.regex(text, /TP_ERR_VOLUMES_COPY/);
  t.regex(text, /\/var\/cache\/files-app/);
  t.regex(text, /--mount-exclude/);
  const status = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { features: { intercepts: unknown[] } };
  t.deepEqual(status.features.intercepts, [], 'no intercept is left behind');
  const { stdout } = await intercept('--mount-max-mb', '1', '--mount-exclude', '/var/cache/files-app', '--', 'sh', '-c', 'cat "$TP_ROOT/etc/files-app/app.conf"; test -e "$TP_ROOT/var/cache/files-app" || echo excluded');
  t.is(stdout.trim(), 'colour=blue\nexcluded');
});

test.serial('with --netns the command reads the pod\'s files at their original paths, and the host\'s files stay visible', async (t) => {
  const script = [
    'cat /etc/files-app/app.conf',
    'cat /etc/files-secret/password; echo',
    'cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo',
    'test -f /var/cache/files-app/tick && echo tick-ok',
    'test -f /etc/hostname && echo host-etc-ok',
    'cat "$TP_ROOT/etc/files-app/app.conf"',
  ].join('; ');
  const { stdout } = await intercept('--netns', '--', 'sh', '-c', script);
  t.deepEqual(stdout.trim().split('\n'), ['colour=blue', 's3cret-for-files', NS, 'tick-ok', 'host-etc-ok', 'colour=blue']);
  t.false(await exists('/etc/files-app'), 'nothing is added to the host itself');
});

test.serial('a crashed daemon\'s copy is swept when the next daemon starts; no Secret reaches a log', async (t) => {
  const { stdout } = await intercept('--output', 'json');
  const root = (JSON.parse(stdout) as { environment: Record<string, string> }).environment.TP_ROOT;
  t.true(await exists(`${root}/etc/files-secret/password`));
  const state = JSON.parse(readFileSync(join(laptop.home, 'state/tp/daemon-default.json'), 'utf8')) as { pid: number };
  process.kill(state.pid, 'SIGKILL');
  await eventually(async () => {
    try {
      process.kill(state.pid, 0);
    } catch {
      return true;
    }
    throw new Error('the daemon is still alive');
  });
  t.true(await exists(root), 'a killed daemon cannot tidy up');
  await env.tp(laptop, ['connect', '-n', env.namespace], 120_000);
  t.false(await exists(root), 'the next daemon sweeps the dead one\'s copy');

  const logs = [
    readFileSync(join(laptop.home, 'cache/tp/logs/daemon-default.log'), 'utf8'),
    await kubectl(['-n', NS, 'logs', await filesPod(), '-c', 'traffic-agent']),
    await kubectl(['-n', `${NS}-mgr`, 'logs', 'deployment/traffic-manager']),
  ].join('\n');
  t.true(logs.includes('volume copy'), 'the logs do speak of the copies');
  t.false(logs.includes('s3cret-for-files'), 'but never of a Secret\'s content');
});
