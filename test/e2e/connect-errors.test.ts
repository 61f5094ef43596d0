// What a user sees when tp connect cannot do its job, and how tp guards the manager's door. Each
// failure must name its cause and what to do next, and leave no daemon behind.
import test from 'ava';
import { once } from 'node:events';
import { chownSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { RUNNING_AS_ROOT, spawnAsUser } from '../helpers/unprivileged.js';
import { CONTEXT, kubectl } from './helpers/cluster.js';
import { connect, ensureDemoAndManager, eventually, KUBECONFIG, newLaptop, TP_BIN, type Laptop } from './helpers/laptop.js';

interface CliError {
  error: { code: string; message: string; hints: string[] };
}

let laptop: Laptop;

test.before(async () => {
  laptop = newLaptop('errors');
  await ensureDemoAndManager(laptop);
});

test.after.always(async () => {
  await laptop?.cleanup();
});

/** Runs tp expecting failure; returns the JSON error it printed. */
async function tpFails(args: string[], env?: NodeJS.ProcessEnv): Promise<CliError['error']> {
  try {
    await laptop.tp([...args, '--output', 'json'], { env, timeoutMs: 90_000 });
  } catch (err) {
    return (JSON.parse((err as { stdout: string }).stdout) as CliError).error;
  }
  throw new Error(`tp ${args.join(' ')} succeeded`);
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  server.close();
  return port;
}

/** A kubeconfig for the laptop user with another token (a user RBAC knows less about). */
function kubeconfigWithToken(token: string, name: string, server?: string): string {
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  const path = join(laptop.home, `${name}.kubeconfig`);
  const cluster = { ...kc.getCurrentCluster()!, ...(server ? { server } : {}) };
  const limited = new KubeConfig();
  limited.loadFromOptions({
    clusters: [cluster],
    users: [{ name, token }],
    contexts: [{ name, cluster: cluster.name, user: name, namespace: 'default' }],
    currentContext: name,
  });
  writeFileSync(path, limited.exportConfig(), { mode: 0o600 });
  giveToLaptopUser(path);
  return path;
}

/** Files the test writes as root for the laptop user belong to that user, like its home. */
function giveToLaptopUser(path: string): void {
  if (!RUNNING_AS_ROOT) return;
  const owner = statSync(laptop.home);
  chownSync(path, owner.uid, owner.gid);
}

test.serial('an unknown context is refused before any daemon starts, listing the contexts there are', async (t) => {
  const error = await tpFails(['connect', '--context', 'nope']);
  t.is(error.code, 'TP_ERR_UNKNOWN_CONTEXT');
  t.deepEqual(error.hints, [`Use one of: ${CONTEXT}.`]);
  t.false(JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout).connected);
});

test.serial('an unreachable API server is named as such', async (t) => {
  const unreachable = kubeconfigWithToken('x', 'unreachable', `https://127.0.0.1:${await freePort()}`);
  const error = await tpFails(['connect'], { KUBECONFIG: unreachable });
  t.is(error.code, 'TP_ERR_KUBE_UNREACHABLE');
  t.regex(error.message, /ECONNREFUSED/);
  t.false(JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout).connected);
});

test.serial('a manager that is not installed gets the exact command to install it', async (t) => {
  const error = await tpFails(['connect', '--manager-namespace', 'nothere']);
  t.is(error.code, 'TP_ERR_MANAGER_NOT_INSTALLED');
  t.deepEqual(error.hints, ['Install it: tp manager install --manager-namespace nothere']);
});

test.serial('a port that is already taken is refused with a way out', async (t) => {
  const busy = createServer().listen(0, '127.0.0.1');
  await once(busy, 'listening');
  t.teardown(() => busy.close());
  const error = await tpFails(['connect', '--http-port', String((busy.address() as AddressInfo).port)]);
  t.is(error.code, 'TP_ERR_PORT_IN_USE');
  t.regex(error.hints[0], /--http-port/);
});

test.serial('a daemon that died is detected as stale and cleaned by the next command', async (t) => {
  await connect(laptop);
  const { pid } = JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout) as { pid: number };
  process.kill(pid, 'SIGKILL');
  await eventually(async () => {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    throw new Error('still alive');
  });
  t.false(JSON.parse((await laptop.tp(['status', '--output', 'json'])).stdout).connected);
  const again = await connect(laptop);
  t.is(again.status.phase, 'connected');
  await laptop.tp(['quit']);
});

test.serial('without RBAC to port-forward or read pods in the manager namespace, a user cannot connect', async (t) => {
  await kubectl(['create', 'serviceaccount', 'no-rights', '-n', 'default']).catch(() => undefined);
  const token = (await kubectl(['create', 'token', 'no-rights', '-n', 'default'])).trim();
  const error = await tpFails(['connect'], { KUBECONFIG: kubeconfigWithToken(token, 'no-rights') });
  t.is(error.code, 'TP_ERR_KUBE_FORBIDDEN');
  t.regex(error.message, /forbidden/);
});

test.serial('--manager-url needs the client token: without it the upgrade is refused, and only users RBAC lets read it get in', async (t) => {
  // A manager outside the cluster (the development mode of `tp manager serve`), as an ingress would expose it.
  const token = Buffer.from((await kubectl(['-n', 'tp', 'get', 'secret', 'traffic-manager-client-token', '-o', 'jsonpath={.data.token}'])).trim(), 'base64').toString();
  const tokenFile = join(laptop.home, 'client-token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  giveToLaptopUser(tokenFile);
  const port = await freePort();
  const manager = spawnAsUser('env', [`KUBECONFIG=${KUBECONFIG}`, `HOME=${laptop.home}`, process.execPath, TP_BIN, 'manager', 'serve', '--port', String(port), '--port-forward-port', '0', '--client-token-file', tokenFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => manager.kill());
  await eventually(async () => {
    const { stdout } = await laptop.run('curl', ['-sS', `http://127.0.0.1:${port}/readyz`]);
    if (stdout.trim() !== 'ok') throw new Error(stdout);
  });
  const url = `ws://127.0.0.1:${port}/tunnel`;

  const anonymous = await laptop.run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket', '-H', 'Sec-WebSocket-Version: 13', '-H', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', `http://127.0.0.1:${port}/tunnel`]);
  t.is(anonymous.stdout, '401');

  const noRights = (await kubectl(['create', 'token', 'no-rights', '-n', 'default'])).trim();
  const refused = await tpFails(['connect', '--manager-url', url], { KUBECONFIG: kubeconfigWithToken(noRights, 'no-rights-url') });
  t.is(refused.code, 'TP_ERR_KUBE_FORBIDDEN');
  t.regex(refused.message, /traffic-manager-client-token/);

  const { status } = await connect(laptop, ['--manager-url', url]);
  t.is((status.manager as { via: string; state: string }).via, 'url');
  t.is((status.manager as { via: string; state: string }).state, 'connected');
  await laptop.tp(['quit']);
});
