// Shared by the intercept end-to-end tests: each test file gets its own workload namespace and its
// own traffic-manager (namespaces `<name>` and `<name>-mgr`, short session TTL), so agents, token
// Secrets and manager restarts of one file never touch another's or the demo's. Also a local HTTP
// server standing in for the developer's process, and requests sent from the `client` pod.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execInPod, kubectl } from '../helpers/cluster.js';
import { fixture } from '../helpers/images.js';
import { newLaptop, type Laptop } from '../helpers/laptop.js';

export const SESSION_TTL_S = 5;

export interface InterceptEnv {
  namespace: string;
  managerNamespace: string;
  /** tp with this file's manager and namespace flags added. */
  tp(laptop: Laptop, args: string[], timeoutMs?: number): Promise<{ stdout: string; stderr: string }>;
  newLaptop(name: string): Laptop;
}

export function setUpNamespace(namespace: string): Promise<InterceptEnv> {
  return setUpWorkloads(namespace, 'test/e2e/intercept/fixtures/workloads.yaml.tmpl', ['web', 'webnum', 'envapp', 'raw']);
}

/**
 * The namespace with the workloads of `template` (a manifest with NAMESPACE for its name, relative
 * to the checkout), rolled out along with the `client` pod, and a traffic-manager of its own.
 */
export async function setUpWorkloads(namespace: string, template: string, workloads: string[]): Promise<InterceptEnv> {
  const managerNamespace = `${namespace}-mgr`;
  await kubectl(['apply', '-f', '-'], { input: fixture(template, namespace) });
  for (const name of workloads) await kubectl(['-n', namespace, 'rollout', 'status', `deployment/${name}`, '--timeout=90s'], { timeoutMs: 100_000 });
  await kubectl(['-n', namespace, 'wait', '--for=condition=Ready', 'pod/client', '--timeout=60s'], { timeoutMs: 70_000 });
  const installer = newLaptop(`${namespace}-install`);
  try {
    await installer.tp(['manager', 'install', '--upgrade', '--manager-namespace', managerNamespace, '--session-ttl', String(SESSION_TTL_S)], { timeoutMs: 150_000 });
  } finally {
    await installer.cleanup();
  }
  return {
    namespace,
    managerNamespace,
    newLaptop: (name) => newLaptop(`${namespace}-${name}`),
    tp: (laptop, args, timeoutMs = 180_000) => {
      const dashes = args.indexOf('--');
      const own = dashes === -1 ? args : args.slice(0, dashes);
      const rest = dashes === -1 ? [] : args.slice(dashes);
      return laptop.tp([...own, '--manager-namespace', managerNamespace, ...rest], { timeoutMs });
    },
  };
}

/** Removes the agents (through the API, as `tp manager uninstall` does) and both namespaces. */
export async function tearDownNamespace(env: InterceptEnv | undefined): Promise<void> {
  if (!env) return;
  const laptop = newLaptop(`${env.namespace}-teardown`);
  await laptop.tp(['manager', 'uninstall', '--manager-namespace', env.managerNamespace], { timeoutMs: 120_000 }).catch(() => undefined);
  await laptop.cleanup();
  await kubectl(['delete', 'namespace', env.namespace, env.managerNamespace, '--wait=false', '--ignore-not-found']).catch(() => undefined);
}

/** A test file's namespace and manager, one laptop connected to it, and that laptop's local server. */
export interface ConnectedLaptop {
  env: InterceptEnv;
  laptop: Laptop;
  server: LocalServer;
}

/** setUpNamespace, then laptop `name` with a local server labelled `name`, connected to the namespace. */
export async function connectLaptop(namespace: string, name: string): Promise<ConnectedLaptop> {
  const env = await setUpNamespace(namespace);
  const laptop = env.newLaptop(name);
  let server: LocalServer | undefined;
  try {
    server = await localServer(name);
    await env.tp(laptop, ['connect', '-n', env.namespace], 120_000);
    return { env, laptop, server };
  } catch (error) {
    await disconnectLaptop({ env, laptop, server });
    throw error;
  }
}

/** Undoes connectLaptop, also when it (or a test.before around it) stopped half-way. */
export async function disconnectLaptop(connected: Partial<ConnectedLaptop>): Promise<void> {
  await connected.laptop?.cleanup();
  await connected.server?.close();
  await tearDownNamespace(connected.env);
}

export interface LocalServer {
  port: number;
  requests: IncomingMessage[];
  close(): Promise<void>;
}

/** The "developer's process": answers `laptop <label> <path>` and remembers each request. */
export async function localServer(label: string): Promise<LocalServer> {
  const requests: IncomingMessage[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(request);
    request.resume();
    request.on('end', () => response.writeHead(200, { 'content-type': 'text/plain' }).end(`laptop ${label} ${request.url}\n`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** curl from the `client` pod; returns the body (or throws with curl's stderr). */
export async function curlFromPod(namespace: string, args: string[], timeoutMs = 20_000): Promise<string> {
  const result = await execInPod('client', ['curl', '-sS', '--max-time', '10', ...args], namespace, timeoutMs);
  if (result.code !== 0) throw new Error(`curl ${args.join(' ')} failed (${result.code}): ${result.stderr.trim()}`);
  return result.stdout;
}

/** Who answered: "laptop <label>" or the echo pod's name. */
export function answeredBy(body: string): string {
  if (body.startsWith('laptop ')) return body.split(' ').slice(0, 2).join(' ');
  try {
    return `pod ${(JSON.parse(body) as { pod: string }).pod}`;
  } catch {
    return `?? ${body.slice(0, 200)}`;
  }
}

/** A workload or Service as JSON, without what the API server and controllers own. */
export async function specOf(namespace: string, kind: string, name: string): Promise<Record<string, unknown>> {
  const object = JSON.parse(await kubectl(['-n', namespace, 'get', kind, name, '-o', 'json'])) as { metadata: Record<string, unknown>; status?: unknown };
  const metadata = { ...object.metadata };
  for (const field of ['resourceVersion', 'generation', 'managedFields', 'uid', 'creationTimestamp']) delete metadata[field];
  const annotations = { ...(metadata.annotations as Record<string, string> | undefined) };
  delete annotations['deployment.kubernetes.io/revision'];
  delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
  metadata.annotations = Object.keys(annotations).length ? annotations : undefined;
  return { ...object, metadata, status: undefined };
}
