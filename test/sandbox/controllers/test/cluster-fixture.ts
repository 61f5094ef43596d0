// An in-process sandbox control plane for the controller tests: the real API server on a random
// loopback port with a fresh CA, plus the controllers, and what a kubelet would do reduced to the
// one thing these tests need — marking pods Running and Ready (or not) through the status
// subresource. No node network, no processes. Used by the tests in this directory.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AppsV1Api, CoreV1Api, DiscoveryV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { startApiServer } from '../../apiserver/server.js';
import { API_SERVER_IPS, API_SERVER_NAMES, createCa, issueServerCert } from '../../certs.js';
import { adminKubeConfig, kubeconfigYaml } from '../../kubeconfig.js';
import { startControllers } from '../index.js';
import { waitFor as waitForValue } from '../../../helpers/wait-for.js';

export const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface TestCluster {
  kc: KubeConfig;
  kubeconfigPath: string;
  core: CoreV1Api;
  apps: AppsV1Api;
  discovery: DiscoveryV1Api;
  close(): Promise<void>;
}

export async function startTestCluster(): Promise<TestCluster> {
  const ca = await createCa();
  const tls = await issueServerCert(ca, 'kube-apiserver', API_SERVER_NAMES, API_SERVER_IPS);
  const token = randomBytes(24).toString('hex');
  const api = await startApiServer({ port: 0, tls, caCert: ca.cert, adminToken: token, signingKey: randomBytes(32) });
  const access = { server: `https://127.0.0.1:${api.port}`, caCert: ca.cert, token };
  const kc = adminKubeConfig(access);
  const controllers = await startControllers({ kubeConfig: kc, resyncMs: 2_000 });
  const dir = mkdtempSync(path.join(tmpdir(), 'tpsbx-ctl-'));
  const kubeconfigPath = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, kubeconfigYaml(access), { mode: 0o600 });
  return {
    kc,
    kubeconfigPath,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
    async close() {
      await controllers.close();
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let nextIp = 10;

/** What a kubelet reports for a started pod: Running with an IP, Ready as asked. */
export async function setPodReady(core: CoreV1Api, pod: V1Pod, ready: boolean): Promise<void> {
  const now = new Date().toISOString();
  const ip = pod.status?.podIP ?? `198.18.${Math.floor(nextIp / 250)}.${(nextIp++ % 250) + 2}`;
  await core.patchNamespacedPodStatus({
    name: pod.metadata!.name!,
    namespace: pod.metadata!.namespace!,
    body: {
      status: {
        phase: 'Running',
        podIP: ip,
        podIPs: [{ ip }],
        conditions: [
          { type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now },
          { type: 'ContainersReady', status: ready ? 'True' : 'False', lastTransitionTime: now },
        ],
      },
    },
  }, MERGE_PATCH);
}

export function isReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  return waitForValue(what, probe, timeoutMs, 50);
}

export async function podsOf(core: CoreV1Api, namespace: string, selector: string): Promise<V1Pod[]> {
  return (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
}
