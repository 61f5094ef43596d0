// `tp gather-logs` against a real daemon with a real intercept: the archive holds the daemon's
// log, status, versions, the manager's and the agent's logs, and none of the secrets the laptop
// and the cluster hold — the door secret, the client and agent tokens, the intercepted pod's
// environment values (planted into the daemon's log too, as a leak would put them). A user whose
// RBAC lets them read only the manager's pods still gets an archive, with the refusals as notes.
import test from 'ava';
import { appendFileSync, chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { coreApi, kubectl } from './helpers/cluster.js';
import { KUBECONFIG, type Laptop } from './helpers/laptop.js';
import { disconnectLaptop, localServer, setUpNamespace, type InterceptEnv, type LocalServer } from './intercept/helpers.js';

const PLANTED = `planted-${randomBytes(12).toString('hex')}`;

let env: InterceptEnv;
let laptop: Laptop;
let server: LocalServer;

test.before(async () => {
  env = await setUpNamespace('tp-gather');
  laptop = env.newLaptop('dev');
  // Doors that ask for credentials, so the door secret is in the status and the proxy URLs.
  laptop.env.TP_DOOR_CHECK = 'credentials';
  server = await localServer('dev');
  await env.tp(laptop, ['connect', '-n', env.namespace], 120_000);
  await kubectl(['-n', env.namespace, 'set', 'env', 'deployment/envapp', `PLANTED_SECRET=${PLANTED}`]);
  await kubectl(['-n', env.namespace, 'rollout', 'status', 'deployment/envapp', '--timeout=90s'], { timeoutMs: 100_000 });
});
test.after.always(() => disconnectLaptop({ env, laptop, server }));

async function secretValue(namespace: string, name: string, key: string): Promise<string> {
  const secret = await coreApi().readNamespacedSecret({ name, namespace });
  return Buffer.from(secret.data![key]!, 'base64').toString('utf8');
}

/** Unpacks the archive with the system's tar; returns each file's path (inside the archive) and text. */
function unpack(archive: string): Map<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'tp-gather-unpacked-'));
  try {
    execFileSync('tar', ['xzf', archive, '-C', dir]);
    const files = new Map<string, string>();
    const walk = (rel: string) => {
      for (const name of readdirSync(join(dir, rel))) {
        const path = join(rel, name);
        if (statSync(join(dir, path)).isDirectory()) walk(path);
        else files.set(path, readFileSync(join(dir, path), 'utf8'));
      }
    };
    walk('');
    return files;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test.serial('the archive has logs, status and versions, and none of the planted secrets', async (t) => {
  const jsonFile = join(laptop.home, 'envapp.json');
  await env.tp(laptop, ['intercept', 'envapp', '--port', String(server.port), '--env-json', jsonFile]);
  t.teardown(() => laptop.tp(['leave', 'envapp']).catch(() => undefined));
  const environment = JSON.parse(readFileSync(jsonFile, 'utf8')) as Record<string, string>;
  t.is(environment.PLANTED_SECRET, PLANTED, 'the planted value is an environment value of the intercepted pod');

  const status = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { logFile: string; listeners: { credentials?: { password: string } } };
  const doorSecret = readFileSync(join(laptop.home, 'state', 'tp', 'door-secret'), 'utf8').trim();
  t.is(status.listeners.credentials?.password, doorSecret, 'the status gathered carries the door secret');
  const clientToken = await secretValue(env.managerNamespace, 'traffic-manager-client-token', 'token');
  const agentToken = await secretValue(env.namespace, 'tp-agent-token', 'token');
  const secrets = { PLANTED, GREETING: environment.GREETING, doorSecret, clientToken, agentToken };
  // A leak as it could happen: every secret in the daemon's log, plain and in the shapes they travel in.
  appendFileSync(status.logFile, [
    `leak env PLANTED_SECRET=${PLANTED} GREETING=${environment.GREETING}`,
    `leak Authorization: Bearer ${clientToken}`,
    `leak proxy http://tp:${doorSecret}@127.0.0.1:1 pac ?key=${encodeURIComponent(doorSecret)}`,
    `leak agent ${agentToken}`,
    '',
  ].join('\n'));

  const archive = join(laptop.home, 'out.tar.gz');
  const { stdout } = await env.tp(laptop, ['gather-logs', '--output-file', archive, '--output', 'json']);
  const result = JSON.parse(stdout) as { file: string; bytes: number; entries: { name: string }[]; notes: string[] };
  t.is(result.file, archive);
  t.is(result.bytes, statSync(archive).size);
  t.is(statSync(archive).mode & 0o777, 0o600);
  t.log(`archive: ${result.bytes} bytes, ${result.entries.length} files`);

  const files = unpack(archive);
  const names = [...files.keys()];
  const top = 'out/';
  for (const expected of ['status.json', 'versions.json', 'config.json', 'notes.txt', 'daemon/daemon-default.log']) t.true(files.has(top + expected), `${expected} in ${names.join(', ')}`);
  t.true(names.some((n) => n.startsWith(`${top}cluster/manager/${env.managerNamespace}.traffic-manager-`)), names.join(', '));
  t.true(names.some((n) => n.startsWith(`${top}cluster/agents/${env.namespace}.envapp-`) && n.endsWith('.traffic-agent.log')), names.join(', '));
  const gathered = JSON.parse(files.get(`${top}status.json`)!) as { connected: boolean; features: { intercepts: { name: string }[] } };
  t.true(gathered.connected);
  t.deepEqual(gathered.features.intercepts.map((i) => i.name), ['envapp']);
  const versions = JSON.parse(files.get(`${top}versions.json`)!) as Record<string, string>;
  t.is(versions.node, process.version);
  t.regex(versions.manager, /^\d+\.\d+\.\d+/);
  t.regex(files.get(`${top}daemon/daemon-default.log`)!, /leak env PLANTED_SECRET=\[redacted\]/);

  for (const [what, secret] of Object.entries(secrets)) {
    for (const form of [secret, Buffer.from(secret).toString('base64'), encodeURIComponent(secret)]) {
      const holders = names.filter((n) => files.get(n)!.includes(form));
      t.deepEqual(holders, [], `${what} is in ${holders.join(', ')}`);
    }
  }
  // And in the compressed bytes too (grep on the archive, as a reviewer would).
  const raw = execFileSync('sh', ['-c', 'gzip -dc "$1"', 'sh', archive]).toString('latin1');
  for (const [what, secret] of Object.entries(secrets)) t.false(raw.includes(secret), what);
});

test.serial('a user who may read only the manager\'s pods gets an archive, with each refusal noted', async (t) => {
  const mgr = env.managerNamespace;
  const user = 'gatherer';
  const manifest = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: user, namespace: mgr } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: user, namespace: mgr }, rules: [{ apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: user, namespace: mgr }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: user }, subjects: [{ kind: 'ServiceAccount', name: user, namespace: mgr }] },
  ];
  for (const item of manifest) await kubectl(['apply', '-f', '-'], { input: JSON.stringify(item) });
  const token = (await kubectl(['-n', mgr, 'create', 'token', user, '--duration=1h'])).trim();
  const kubeconfig = tokenKubeconfig(laptop, token, user);

  const archive = join(laptop.home, 'limited.tgz');
  const { stdout } = await laptop.tp(['gather-logs', '--kubeconfig', kubeconfig, '--manager-namespace', mgr, '-f', archive]);
  t.regex(stdout, /^Wrote .*limited\.tgz \(\d+ bytes, \d+ files\):/);
  const files = unpack(archive);
  const notes = files.get('limited/notes.txt')!;
  t.regex(notes, new RegExp(`reading secret ${mgr}/traffic-manager-client-token \\(to redact its values\\): forbidden by RBAC \\(403\\)`));
  t.regex(notes, new RegExp(`listing pods in ${env.namespace}: forbidden by RBAC \\(403\\)`));
  t.true([...files.keys()].some((n) => n.startsWith(`limited/cluster/manager/${mgr}.traffic-manager-`)), 'the manager\'s log, which the user may read');
  t.false([...files.keys()].some((n) => n.includes('/agents/')));
  t.false(files.get('limited/status.json')!.includes(readFileSync(join(laptop.home, 'state', 'tp', 'door-secret'), 'utf8').trim()));
});

test.serial('a name that is not .tar.gz, or a file that exists, is refused and nothing is written over', async (t) => {
  const zip = await laptop.tp(['gather-logs', '--no-cluster', '-f', join(laptop.home, 'x.zip'), '--output', 'json']).then(() => undefined, (e: { stdout: string }) => JSON.parse(e.stdout) as { error: { code: string; hints: string[] } });
  t.is(zip?.error.code, 'TP_ERR_GATHER_OUTPUT');
  t.regex(zip!.error.hints[0], /x\.tar\.gz/);
  const existing = join(laptop.home, 'keep.tar.gz');
  await laptop.run('sh', ['-c', 'echo precious > "$1"', 'sh', existing]);
  const refused = await laptop.tp(['gather-logs', '--no-cluster', '-f', existing]).then(() => '', (e: { stderr: string }) => e.stderr);
  t.regex(refused, /exists already.*\(TP_ERR_GATHER_OUTPUT\)\nTry this:/s);
  t.is(readFileSync(existing, 'utf8'), 'precious\n');
});

/** A kubeconfig whose only credential is `token`, owned by the laptop's user. */
function tokenKubeconfig(owner: Laptop, token: string, user: string): string {
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  const cluster = kc.getCurrentCluster()!;
  const path = join(owner.home, `${user}.kubeconfig`);
  writeFileSync(path, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': user,
    clusters: [{ name: cluster.name, cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData ?? readFileSync(cluster.caFile!).toString('base64') } }],
    contexts: [{ name: user, context: { cluster: cluster.name, user } }],
    users: [{ name: user, user: { token } }],
  }), { mode: 0o600 });
  const home = statSync(owner.home);
  chownSync(path, home.uid, home.gid);
  return path;
}
