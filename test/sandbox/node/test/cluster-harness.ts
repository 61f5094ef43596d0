// A small real cluster for the node part's tests: the sandbox API server in-process (HTTPS on
// 127.0.0.1 and a unix socket, openssl-made certs), the node network under a test prefix, the node
// agent as a child process in the node netns, the kubelet and kube-proxy. close() tears it all down.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { startApiServer, type ApiServer } from '../../apiserver/server.js';
import { API_SERVER_IPS, API_SERVER_NAMES, createCa, issueServerCert } from '../../certs.js';
import { makeKubeConfig } from '../kube-client.js';
import { startKubelet, type Kubelet } from '../kubelet.js';
import { startKubeProxy, type KubeProxy } from '../kube-proxy.js';
import { cleanUpStale, setUpNodeNetwork, type NodeNetwork } from '../network.js';
import { spawnNodeAgent } from '../node-agent.js';
import { dialPod } from '../pod-dialer.js';

export interface TestCluster {
  stateDir: string;
  kc: KubeConfig;
  core: CoreV1Api;
  network: NodeNetwork;
  kubelet: Kubelet;
  kubeProxy: KubeProxy;
  agentSocket: string;
  close(): Promise<void>;
}

export async function startTestCluster(prefix: string): Promise<TestCluster> {
  await cleanUpStale(prefix);
  const stateDir = mkdtempSync(join(tmpdir(), `tp-node-${prefix}-`));
  const ca = await createCa();
  const tls = await issueServerCert(ca, 'kube-apiserver', API_SERVER_NAMES, API_SERVER_IPS);
  const adminToken = randomBytes(24).toString('hex');
  const apiSocket = join(stateDir, 'api.sock');
  const agentSocket = join(stateDir, 'dialer.sock');
  const caFile = join(stateDir, 'ca.crt');
  const tokenFile = join(stateDir, 'admin.token');
  writeFileSync(caFile, ca.cert);
  writeFileSync(tokenFile, adminToken, { mode: 0o600 });

  const cleanups: (() => Promise<unknown> | void)[] = [() => rmSync(stateDir, { recursive: true, force: true })];
  const close = async (): Promise<void> => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  };
  try {
    const late: { kubelet?: Kubelet } = {};
    const api: ApiServer = await startApiServer({
      port: 0, socketPath: apiSocket, tls, caCert: ca.cert, adminToken, signingKey: randomBytes(32),
      hooks: {
        dialPod: (ip, port) => dialPod(agentSocket, ip, port),
        podLogs: (ns, pod, container, options) => late.kubelet!.podLogs(ns, pod, container, options),
      },
    });
    cleanups.push(() => api.close());
    const network = await setUpNodeNetwork({ prefix, stateDir });
    cleanups.push(() => network.close());
    const agent: ChildProcess = await spawnNodeAgent({ netns: network.nodeNetns, apiSocketPath: apiSocket, caFile, tokenFile, dialerSocketPath: agentSocket });
    cleanups.push(() => new Promise<void>((resolve) => {
      if (agent.exitCode !== null || agent.signalCode !== null) return resolve();
      agent.once('exit', () => resolve());
      agent.kill('SIGTERM');
    }));
    const access = { server: api.url, caCert: ca.cert, token: adminToken };
    const kubeProxy = await startKubeProxy({ api: access, network });
    cleanups.push(() => kubeProxy.close());
    const kubelet = await startKubelet({ api: access, network, stateDir, agentSocket, backOff: { baseMs: 200, maxMs: 2000 } });
    late.kubelet = kubelet;
    cleanups.push(() => kubelet.close());
    const kc = makeKubeConfig(access);
    return { stateDir, kc, core: kc.makeApiClient(CoreV1Api), network, kubelet, kubeProxy, agentSocket, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Polls fn until it returns a truthy value (or throws the last error after timeoutMs). */
export async function eventually<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw lastError ?? new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
