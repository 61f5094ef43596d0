// The node agent: a process inside the node netns serving the cluster DNS (198.18.0.1:53 UDP+TCP),
// the API forwarder (198.18.0.1:6443 → the API server's unix socket) and the pod dialer (a unix
// socket in the state dir). It learns services, endpoints and pods by watching the API through its
// own forwarder (so it needs no route out of the netns). Exits cleanly on SIGTERM/SIGINT.
//
// Run directly (as root):
//   ip netns exec <prefix>-node node --import tsx test/sandbox/node/node-agent.ts \
//     --api-socket <path> --ca-file <pem> --token-file <file> --dialer-socket <path> [--tls-server-name kubernetes.default.svc]
// or from code with spawnNodeAgent(), which resolves once every listener is up ("ready" on stdout).
// Leaves out restarting itself: the main process restarts it if it dies.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CoreV1Api, type V1Endpoints, type V1Pod, type V1Service } from '@kubernetes/client-node';
import { startApiForwarder } from './api-forwarder.js';
import { startClusterDns } from './cluster-dns.js';
import { makeKubeConfig, WatchCache } from './kube-client.js';
import { NODE_IP } from './network.js';
import { startPodDialer } from './pod-dialer.js';

export const API_FORWARDER_PORT = 6443;
export const DNS_PORT = 53;
export const READY_LINE = 'node-agent ready';
const AGENT_FILE = fileURLToPath(import.meta.url);

export interface NodeAgentOptions {
  /** The node netns to run in (`ip netns exec`). */
  netns: string;
  apiSocketPath: string;
  caFile: string;
  /** File holding the admin token (never passed on the command line). */
  tokenFile: string;
  dialerSocketPath: string;
  /** The name in the API server's certificate to check (default kubernetes.default.svc). */
  tlsServerName?: string;
  /** Where the agent's stdout/stderr go (default: inherited). */
  logFd?: number;
  readyTimeoutMs?: number;
}

export class NodeAgentStartError extends Error {
  readonly code = 'SANDBOX_NODE_AGENT_START';
}

/** Starts the agent as a child process in the node netns and resolves once it is ready. */
export function spawnNodeAgent(options: NodeAgentOptions): Promise<ChildProcess> {
  const args = ['netns', 'exec', options.netns, process.execPath, '--import', 'tsx', AGENT_FILE,
    '--api-socket', options.apiSocketPath, '--ca-file', options.caFile, '--token-file', options.tokenFile,
    '--dialer-socket', options.dialerSocketPath, '--tls-server-name', options.tlsServerName ?? 'kubernetes.default.svc'];
  const err = options.logFd ?? 'inherit';
  const child = spawn('ip', args, { stdio: ['ignore', 'pipe', err], env: { ...process.env, DEBUG: process.env.DEBUG ?? '' } });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new NodeAgentStartError('node agent did not get ready in time')); }, options.readyTimeoutMs ?? 15_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (output.includes(READY_LINE)) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new NodeAgentStartError(`node agent exited (${signal ?? code}) before it was ready: ${output.slice(-500)}`));
    });
  });
}

export interface RunningNodeAgent { close(): Promise<void> }

/** Runs the agent's servers in this process (which must already be inside the node netns). */
export async function runNodeAgent(options: Omit<NodeAgentOptions, 'netns' | 'logFd' | 'readyTimeoutMs'>): Promise<RunningNodeAgent> {
  const forwarder = await startApiForwarder({ address: NODE_IP, port: API_FORWARDER_PORT, apiSocketPath: options.apiSocketPath });
  const dialer = await startPodDialer({ socketPath: options.dialerSocketPath });
  const kc = makeKubeConfig({
    server: `https://${NODE_IP}:${API_FORWARDER_PORT}`,
    caCert: readFileSync(options.caFile, 'utf8'),
    token: readFileSync(options.tokenFile, 'utf8').trim(),
    tlsServerName: options.tlsServerName ?? 'kubernetes.default.svc',
  });
  const core = kc.makeApiClient(CoreV1Api);
  const services = new WatchCache<V1Service>(kc, '/api/v1/services', () => core.listServiceForAllNamespaces());
  const endpoints = new WatchCache<V1Endpoints>(kc, '/api/v1/endpoints', () => core.listEndpointsForAllNamespaces());
  const pods = new WatchCache<V1Pod>(kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
  const dns = await startClusterDns({
    address: NODE_IP,
    port: DNS_PORT,
    snapshot: { services: () => services.list(), endpoints: () => endpoints.list(), pods: () => pods.list() },
  });
  // Caches fill in the background; an API outage must not keep DNS or the forwarder down.
  for (const cache of [services, endpoints, pods]) cache.start().catch(() => undefined);
  let closing: Promise<void> | undefined;
  return {
    close: () => (closing ??= (async () => {
      await Promise.all([services.close(), endpoints.close(), pods.close()]);
      await Promise.all([dns.close(), forwarder.close(), dialer.close()]);
    })()),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'api-socket': { type: 'string' }, 'ca-file': { type: 'string' }, 'token-file': { type: 'string' },
      'dialer-socket': { type: 'string' }, 'tls-server-name': { type: 'string' },
    },
  });
  for (const name of ['api-socket', 'ca-file', 'token-file', 'dialer-socket'] as const) {
    if (!values[name]) throw new NodeAgentStartError(`--${name} is required`);
  }
  const agent = await runNodeAgent({
    apiSocketPath: values['api-socket']!, caFile: values['ca-file']!, tokenFile: values['token-file']!,
    dialerSocketPath: values['dialer-socket']!, tlsServerName: values['tls-server-name'],
  });
  const stop = (signal: string): void => {
    console.error(`node agent: ${signal}, shutting down`);
    const force = setTimeout(() => process.exit(0), 3000);
    force.unref();
    void agent.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  console.log(READY_LINE);
}

if (process.argv[1] === AGENT_FILE) {
  main().catch((error: unknown) => {
    console.error(`node agent: ${(error as Error).message}`);
    process.exit(1);
  });
}
