// The sandbox's main process (root, started detached by `npm run sandbox -- up`): makes the PKI and
// tokens in the state dir, sets up the node network, starts the API server (TCP on 127.0.0.1 and a
// unix socket, with the node's dialPod and podLogs hooks), the node agent, kubelet, kube-proxy and
// controllers, publishes the kubeconfig, CA and the demo TLS Secret, then writes status.json. On
// SIGTERM/SIGINT it stops the parts in reverse order (controllers, kube-proxy, kubelet and its
// pods, agent, API server, network) and removes its pid and status files. On SIGUSR2 it restarts the
// API server in place, as a control-plane restart: connections drop, the same API comes back on the
// same address. Leaves out restarts of the other parts (but the node agent's): a broken sandbox is
// brought down and up again.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { CoreV1Api } from '@kubernetes/client-node';
import { startApiServer } from './apiserver/server.js';
import { API_SERVER_IPS, API_SERVER_NAMES, createCa, issueServerCert, type KeyPair } from './certs.js';
import { startControllers } from './controllers/index.js';
import { adminKubeConfig, kubeconfigYaml } from './kubeconfig.js';
import { startKubeProxy } from './node/kube-proxy.js';
import { startKubelet, type Kubelet } from './node/kubelet.js';
import { setUpNodeNetwork } from './node/network.js';
import { dialPodLoopback, podNetnsByIp } from './pod-loopback.js';
import { spawnInPod } from './pod-exec.js';
import { superviseNodeAgent } from './node-agent-supervisor.js';
import { kubeProxyDelayMs, NETWORK_PREFIX, sandboxPaths, sandboxPort, type SandboxStatus } from './state.js';

export const TLS_ECHO_SECRET = 'tls-echo-tls';
const TLS_ECHO_NAMES = ['tls-echo', 'tls-echo.default', 'tls-echo.default.svc', 'tls-echo.default.svc.cluster.local'];

const startedAt = Date.now();
const paths = sandboxPaths();
const port = sandboxPort();
const stops: { name: string; close: () => Promise<void> }[] = [];
let stopping: Promise<void> | undefined;
/** Set once everything is up: drops every API connection and listens again (same port, certs, objects). */
let restartApi: (() => Promise<void>) | undefined;
let restarting: Promise<void> = Promise.resolve();
/** How long a restarted API server refuses connections, as a real one does while it starts. */
const API_RESTART_DOWN_MS = 1_000;

function base64(text: string): string {
  return Buffer.from(text).toString('base64');
}

function log(message: string): void {
  console.log(`${new Date().toISOString()} sandbox: ${message}`);
}

async function writePki(): Promise<{ ca: KeyPair; server: KeyPair; tlsEcho: KeyPair; token: string; signingKey: Buffer }> {
  const ca = await createCa();
  const [server, tlsEcho] = await Promise.all([
    issueServerCert(ca, 'kube-apiserver', API_SERVER_NAMES, API_SERVER_IPS),
    issueServerCert(ca, 'tls-echo.default.svc.cluster.local', TLS_ECHO_NAMES),
  ]);
  const token = randomBytes(32).toString('base64url');
  const signingKey = randomBytes(32);
  writeFileSync(paths.caCert, ca.cert, { mode: 0o644 });
  writeFileSync(paths.caKey, ca.key, { mode: 0o600 });
  writeFileSync(paths.serverCert, server.cert, { mode: 0o644 });
  writeFileSync(paths.serverKey, server.key, { mode: 0o600 });
  writeFileSync(paths.adminToken, token, { mode: 0o600 });
  writeFileSync(paths.signingKey, signingKey, { mode: 0o600 });
  return { ca, server, tlsEcho, token, signingKey };
}

async function start(): Promise<void> {
  mkdirSync(paths.dir, { recursive: true, mode: 0o755 });
  chmodSync(paths.dir, 0o755);
  writeFileSync(paths.pid, `${process.pid}\n`, { mode: 0o644 });
  const pki = await writePki();
  log('PKI and tokens written');

  const network = await setUpNodeNetwork({ prefix: NETWORK_PREFIX, stateDir: paths.dir });
  stops.push({ name: 'node network', close: () => network.close() });
  log(`node network up (${network.nodeNetns})`);

  // The API server needs the kubelet's log hook, the kubelet needs the API server: bound late.
  const late: { kubelet?: Kubelet } = {};
  const api = await startApiServer({
    port,
    socketPath: paths.apiSocket,
    tls: pki.server,
    caCert: pki.ca.cert,
    adminToken: pki.token,
    signingKey: pki.signingKey,
    hooks: {
      // Like a real node, port-forward connects to the pod's own loopback inside its netns.
      dialPod: (ip, podPort) => {
        const netns = podNetnsByIp(paths.dir, NETWORK_PREFIX, ip);
        if (!netns) return Promise.reject(new Error(`no pod network has IP ${ip}`));
        return dialPodLoopback(netns, podPort);
      },
      podLogs: (namespace, pod, container, options) => {
        if (!late.kubelet) return Promise.reject(new Error('the kubelet is not running'));
        return late.kubelet.podLogs(namespace, pod, container, options);
      },
      // The pod's containers share the host's programs; each sees its own mounts.
      execInPod: (pod, container, argv) => spawnInPod(pod.uid, argv, paths, container),
    },
  });
  stops.push({ name: 'API server', close: () => api.close() });
  const access = { server: `https://127.0.0.1:${api.port}`, caCert: pki.ca.cert, token: pki.token };
  writeFileSync(paths.kubeconfig, kubeconfigYaml(access), { mode: 0o644 });
  chmodSync(paths.kubeconfig, 0o644);
  log(`API server on ${api.url} and ${paths.apiSocket}`);

  const agent = await superviseNodeAgent({
    netns: network.nodeNetns,
    apiSocketPath: paths.apiSocket,
    caFile: paths.caCert,
    tokenFile: paths.adminToken,
    dialerSocketPath: paths.dialerSocket,
    logFd: 2,
  }, log);
  stops.push({ name: 'node agent', close: () => agent.close() });
  log('node agent ready');

  const kc = adminKubeConfig(access);
  const [startedKubelet, kubeProxy, controllers] = await Promise.all([
    startKubelet({ kubeconfig: kc, caCert: pki.ca.cert, network, stateDir: paths.dir, agentSocket: paths.dialerSocket }),
    startKubeProxy({ kubeconfig: kc, network, syncDelayMs: kubeProxyDelayMs() }),
    startControllers({ kubeConfig: kc }),
  ]);
  late.kubelet = startedKubelet;
  stops.push({ name: 'kubelet', close: () => startedKubelet.close() });
  stops.push({ name: 'kube-proxy', close: () => kubeProxy.close() });
  stops.push({ name: 'controllers', close: () => controllers.close() });
  log('kubelet, kube-proxy and controllers running');

  await kc.makeApiClient(CoreV1Api).createNamespacedSecret({
    namespace: 'default',
    body: { metadata: { name: TLS_ECHO_SECRET }, type: 'kubernetes.io/tls', data: { 'tls.crt': base64(pki.tlsEcho.cert), 'tls.key': base64(pki.tlsEcho.key), 'ca.crt': base64(pki.ca.cert) } },
  });

  const status: SandboxStatus = {
    pid: process.pid,
    apiUrl: api.url,
    kubeconfig: paths.kubeconfig,
    startedAt: new Date(startedAt).toISOString(),
    startupMs: Date.now() - startedAt,
  };
  writeFileSync(paths.status, `${JSON.stringify(status, null, 2)}\n`, { mode: 0o644 });
  log(`ready in ${status.startupMs} ms`);
  restartApi = async () => {
    log('restarting the API server');
    await api.restart(API_RESTART_DOWN_MS);
    status.apiRestarts = (status.apiRestarts ?? 0) + 1;
    writeFileSync(paths.status, `${JSON.stringify(status, null, 2)}\n`, { mode: 0o644 });
    log(`API server restarted (${status.apiRestarts})`);
  };
}

function stop(reason: string): Promise<void> {
  stopping ??= (async () => {
    log(`stopping (${reason})`);
    for (const part of stops.reverse()) {
      try {
        await part.close();
        log(`stopped ${part.name}`);
      } catch (error) {
        log(`stopping ${part.name} failed: ${(error as Error).message}`);
      }
    }
    rmSync(paths.status, { force: true });
    rmSync(paths.pid, { force: true });
    log('stopped');
  })();
  return stopping;
}

// SIGUSR2 (sent by `npm run sandbox -- restart apiserver`): restart the API server in place.
process.on('SIGUSR2', () => {
  if (stopping || !restartApi) return;
  restarting = restarting.then(restartApi).catch((error: unknown) => log(`restarting the API server failed: ${(error as Error)?.stack ?? String(error)}`));
});
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(signal, () => {
    void stop(signal).then(() => process.exit(0));
  });
}
process.on('uncaughtException', (error) => {
  log(`uncaught exception: ${error.stack ?? error.message}`);
});
process.on('unhandledRejection', (error) => {
  log(`unhandled rejection: ${(error as Error)?.stack ?? String(error)}`);
});

start().catch(async (error: unknown) => {
  log(`start failed: ${(error as Error)?.stack ?? String(error)}`);
  await stop('start failed');
  process.exit(1);
});
