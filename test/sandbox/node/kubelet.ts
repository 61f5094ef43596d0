// The sandbox's kubelet, an API client in the main (root) process: registers the Node
// `sandbox-node` and keeps it Ready, watches every pod (single node, no scheduler: it binds any
// unbound pod to itself), runs each in a PodWorker, and serves container logs to the API server
// (podLogs, its log hook). A deleted pod is terminating (deletionTimestamp set, the object kept):
// the kubelet sends its processes SIGTERM, SIGKILL after deletionGracePeriodSeconds, and once they
// have exited removes the pod for good (a delete with grace 0), as a real kubelet does.
//
//   const kubelet = await startKubelet({ api: { server, caCert, token }, network, stateDir, agentSocket });
//   apiServer hooks: { podLogs: kubelet.podLogs, dialPod: (ip, port) => dialPod(agentSocket, ip, port) }
//
// Leaves out node resources, eviction, static pods and multiple nodes.
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Node, type V1Pod, type V1Service } from '@kubernetes/client-node';
import debug from 'debug';
import { DEFAULT_BACKOFF, type BackOff } from './container-runner.js';
import { readLog, type PodLogOptions } from './container-log.js';
import { loadImageTable, type ImageTable } from './images.js';
import { makeKubeConfig, WatchCache, type ApiAccess } from './kube-client.js';
import { NODE_IP, type NodeNetwork } from './network.js';
import { dialPod } from './pod-dialer.js';
import { PodWorker } from './pod-worker.js';

const log = debug('tp:sandbox:kubelet');
export const NODE_NAME = 'sandbox-node';
const HEARTBEAT_MS = 10_000;
/** A pod removed from the API without the kubelet (grace 0, "force"): its processes get this long after SIGTERM. */
const FORCED_GRACE_MS = 1_000;
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface KubeletOptions {
  /** Server URL, CA and token; or a ready KubeConfig plus caCert. */
  api?: ApiAccess;
  kubeconfig?: KubeConfig;
  /** The CA published to pods as ca.crt (default: api.caCert). */
  caCert?: string;
  network: NodeNetwork;
  stateDir: string;
  nodeName?: string;
  images?: ImageTable;
  /** The node agent's pod dialer socket (probes). */
  agentSocket: string;
  /** Crash-loop back-off (default 10 s doubling to 5 min). */
  backOff?: BackOff;
}

export interface Kubelet {
  podLogs(namespace: string, pod: string, container: string, options: PodLogOptions): Promise<Readable>;
  close(): Promise<void>;
}

export class PodLogsError extends Error {
  constructor(readonly statusCode: 400 | 404, message: string) {
    super(message);
    this.name = 'PodLogsError';
  }
}

export class KubeletConfigError extends Error {
  readonly code = 'SANDBOX_KUBELET_CONFIG';
}

export async function startKubelet(options: KubeletOptions): Promise<Kubelet> {
  const kc = options.kubeconfig ?? (options.api ? makeKubeConfig(options.api) : undefined);
  const caCert = options.caCert ?? options.api?.caCert;
  if (!kc || !caCert) throw new KubeletConfigError('startKubelet needs api (server, caCert, token) or kubeconfig plus caCert');
  const nodeName = options.nodeName ?? NODE_NAME;
  const core = kc.makeApiClient(CoreV1Api);
  const podsDir = join(options.stateDir, 'pods');
  mkdirSync(podsDir, { recursive: true });

  await registerNode(core, nodeName);
  const heartbeat = setInterval(() => void patchNodeStatus(core, nodeName).catch((e: Error) => log('!! heartbeat: %s', e.message)), HEARTBEAT_MS);

  const services = new WatchCache<V1Service>(kc, '/api/v1/services', () => core.listServiceForAllNamespaces());
  await services.start();
  const pods = new WatchCache<V1Pod>(kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
  const workers = new Map<string, PodWorker>(); // pod uid → worker
  let closed = false;

  const deps = {
    network: options.network,
    podsDir,
    nodeName,
    hostIP: NODE_IP,
    images: options.images ?? loadImageTable(),
    backOff: options.backOff ?? DEFAULT_BACKOFF,
    dial: (ip: string, port: number) => dialPod(options.agentSocket, ip, port),
    sources: {
      caCert,
      services: [] as V1Service[],
      configMap: (namespace: string, name: string) => orUndefined(core.readNamespacedConfigMap({ namespace, name })),
      secret: (namespace: string, name: string) => orUndefined(core.readNamespacedSecret({ namespace, name })),
      serviceAccountToken: async (pod: V1Pod, serviceAccount: string, o: { expirationSeconds?: number; audiences?: string[] }) => {
        const request = await core.createNamespacedServiceAccountToken({
          namespace: pod.metadata!.namespace!,
          name: serviceAccount,
          body: { spec: { audiences: o.audiences ?? [], expirationSeconds: o.expirationSeconds ?? 3600, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata!.name, uid: pod.metadata!.uid } } },
        });
        return request.status!.token;
      },
    },
    patchStatus: async (pod: V1Pod, status: object) => {
      await core.patchNamespacedPodStatus({ namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, body: { status } }, MERGE_PATCH);
    },
  };

  function admit(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    if (closed || !uid || workers.has(uid) || pod.metadata?.deletionTimestamp) return;
    if (pod.spec?.nodeName && pod.spec.nodeName !== nodeName) return;
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    const ns = pod.metadata!.namespace!;
    const worker = new PodWorker(pod, { ...deps, sources: { ...deps.sources, services: services.list().filter((s) => s.metadata?.namespace === ns) } });
    workers.set(uid, worker);
    log('-> pod %s', worker.key);
    void (async () => {
      if (!pod.spec?.nodeName) await bind(core, pod, nodeName);
      await worker.start();
    })().catch((error: Error) => log('!! pod %s: %s', worker.key, error.message));
  }

  async function remove(pod: V1Pod, graceMs?: number): Promise<void> {
    const uid = pod.metadata?.uid;
    const worker = uid ? workers.get(uid) : undefined;
    if (!worker) return;
    log('<- pod %s deleted', worker.key);
    // Its logs stay readable while it terminates.
    await worker.stop(graceMs).catch((error: Error) => log('!! stopping %s: %s', worker.key, error.message));
    workers.delete(uid!);
  }

  /** A terminating pod: stop it within its grace period, then remove the object (once per pod). */
  const terminating = new Set<string>();
  async function terminate(pod: V1Pod): Promise<void> {
    const uid = pod.metadata!.uid!;
    if (terminating.has(uid)) return;
    terminating.add(uid);
    const graceMs = (pod.metadata?.deletionGracePeriodSeconds ?? 0) * 1000;
    log('<- pod %s/%s terminating (grace %d ms)', pod.metadata?.namespace, pod.metadata?.name, graceMs);
    await remove(pod, graceMs);
    await core.deleteNamespacedPod({ namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, gracePeriodSeconds: 0, body: { preconditions: { uid } } })
      .catch((error: Error) => log('!! removing %s: %s', pod.metadata?.name, error.message));
  }

  pods.onChange((pod, kind) => {
    if (kind === 'delete') {
      terminating.delete(pod.metadata?.uid ?? '');
      void remove(pod, FORCED_GRACE_MS);
    } else if (pod.metadata?.deletionTimestamp) void terminate(pod);
    else admit(pod);
  });
  await pods.start();

  async function podLogs(namespace: string, name: string, container: string, logOptions: PodLogOptions): Promise<Readable> {
    const worker = [...workers.values()].find((w) => w.key === `${namespace}/${name}`);
    if (!worker) throw new PodLogsError(404, `pod "${name}" is not running on this node`);
    const runner = worker.runner(container || worker.firstContainer() || '');
    if (!runner) throw new PodLogsError(400, `container "${container}" in pod "${name}" is waiting to start`);
    const file = runner.logFile(logOptions.previous ?? false);
    if (!file) throw new PodLogsError(400, logOptions.previous ? `previous terminated container "${container}" in pod "${name}" not found` : `container "${container}" in pod "${name}" is waiting to start`);
    return readLog(file, logOptions, () => logOptions.previous === true || runner.runEnded());
  }

  return {
    podLogs,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      await Promise.all([pods.close(), services.close()]);
      await Promise.all([...workers.values()].map((w) => w.stop()));
      workers.clear();
    },
  };
}

async function orUndefined<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined;
    throw error;
  }
}

async function bind(core: CoreV1Api, pod: V1Pod, nodeName: string): Promise<void> {
  try {
    await core.createNamespacedPodBinding({
      namespace: pod.metadata!.namespace!, name: pod.metadata!.name!,
      body: { metadata: { name: pod.metadata!.name }, target: { apiVersion: 'v1', kind: 'Node', name: nodeName } },
    });
  } catch (error) {
    log('!! binding %s: %s (running it anyway)', pod.metadata?.name, (error as Error).message);
  }
}

async function registerNode(core: CoreV1Api, nodeName: string): Promise<void> {
  const node: V1Node = { metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux', 'node-role.kubernetes.io/control-plane': '' } } };
  try {
    await core.createNode({ body: node });
  } catch (error) {
    if ((error as { code?: number }).code !== 409) throw error;
  }
  await patchNodeStatus(core, nodeName);
}

async function patchNodeStatus(core: CoreV1Api, nodeName: string): Promise<void> {
  const now = new Date();
  const resources = { cpu: '2', memory: '4Gi', pods: '110', 'ephemeral-storage': '10Gi' };
  const condition = (type: string, status: string, reason: string) => ({ type, status, reason, message: reason, lastHeartbeatTime: now, lastTransitionTime: now });
  await core.patchNodeStatus({
    name: nodeName,
    body: {
      status: {
        conditions: [
          condition('Ready', 'True', 'KubeletReady'),
          condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory'),
          condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure'),
          condition('PIDPressure', 'False', 'KubeletHasSufficientPID'),
        ],
        addresses: [{ type: 'InternalIP', address: NODE_IP }, { type: 'Hostname', address: nodeName }],
        capacity: resources,
        allocatable: resources,
        nodeInfo: {
          architecture: process.arch === 'x64' ? 'amd64' : process.arch, operatingSystem: 'linux', osImage: 'tp sandbox', kernelVersion: '',
          kubeletVersion: 'v1.30.0-sandbox', kubeProxyVersion: 'v1.30.0-sandbox', containerRuntimeVersion: 'sandbox://1.0',
          machineID: '', systemUUID: '', bootID: '',
        },
      },
    },
  }, MERGE_PATCH);
}
