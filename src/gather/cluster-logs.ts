// What the cluster can tell about a problem, read through the Kubernetes API as the user's RBAC
// allows: the traffic-manager's logs and those of the agents in the namespaces the user works in,
// and the values that must not leave with them (the tokens, the agent pods' environment values, the agents' tokens among them).
// A refusal (403) or a missing object is a note in the archive, never a failure: a user who may
// read only some of it still hands over the rest.
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { CLIENT_TOKEN_KEY, CLIENT_TOKEN_SECRET, MANAGER_SELECTOR } from '../api/names.js';
import { AGENT_CONTAINER } from '../inject/agent-patch.js';
import { statusCode } from '../k8s/api-errors.js';

/** Bytes of log read per container: the recent end, enough for an incident, small enough to mail. */
export const POD_LOG_LIMIT_BYTES = 5 * 1024 * 1024;

export interface ClusterFile {
  /** Path inside the archive. */
  name: string;
  text: string;
}

export interface ClusterGathering {
  files: ClusterFile[];
  /** What could not be read, and why (in the archive as notes). */
  notes: string[];
  /** Values to take out of everything before it is written. */
  secrets: string[];
}

export async function gatherClusterLogs(kc: KubeConfig, managerNamespace: string, agentNamespaces: string[]): Promise<ClusterGathering> {
  const core = kc.makeApiClient(CoreV1Api);
  const out: ClusterGathering = { files: [], notes: [], secrets: [] };
  const attempt = async <T>(what: string, call: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await call();
    } catch (err) {
      const code = statusCode(err);
      out.notes.push(`${what}: ${code === 403 ? 'forbidden by RBAC (403)' : code === 404 ? 'not found (404)' : `failed (${code ?? (err as Error).message?.split('\n')[0]})`}`);
      return undefined;
    }
  };
  // Values of a Secret or ConfigMap that an environment names (all keys when `key` is not given).
  const readSecretValue = async (namespace: string, name: string, key?: string) => {
    const secret = await attempt(`reading secret ${namespace}/${name} (to redact its values)`, () => core.readNamespacedSecret({ name, namespace }));
    for (const [k, value] of Object.entries(secret?.data ?? {})) if (key === undefined || k === key) out.secrets.push(Buffer.from(value, 'base64').toString('utf8'));
  };
  const readConfigMapValues = async (namespace: string, name: string, key?: string) => {
    const map = await attempt(`reading configmap ${namespace}/${name} (to redact its values)`, () => core.readNamespacedConfigMap({ name, namespace }));
    for (const [k, value] of Object.entries(map?.data ?? {})) if (key === undefined || k === key) out.secrets.push(value);
  };

  await readSecretValue(managerNamespace, CLIENT_TOKEN_SECRET, CLIENT_TOKEN_KEY);
  const selector = Object.entries(MANAGER_SELECTOR).map(([k, v]) => `${k}=${v}`).join(',');
  const managers = await attempt(`listing the manager's pods in ${managerNamespace}`, () => core.listNamespacedPod({ namespace: managerNamespace, labelSelector: selector }));
  for (const pod of managers?.items ?? []) await podLogs(pod, 'manager', () => true);

  for (const namespace of [...new Set(agentNamespaces)]) {
    const pods = await attempt(`listing pods in ${namespace}`, () => core.listNamespacedPod({ namespace }));
    const agents = (pods?.items ?? []).filter((pod) => pod.spec?.containers.some((c) => c.name === AGENT_CONTAINER));
    for (const pod of agents) {
      await environmentValues(pod);
      await podLogs(pod, 'agents', (container) => container === AGENT_CONTAINER);
    }
  }
  return out;

  async function podLogs(pod: V1Pod, folder: string, wanted: (container: string) => boolean): Promise<void> {
    const name = pod.metadata?.name ?? '?';
    const namespace = pod.metadata?.namespace ?? '?';
    for (const container of pod.spec?.containers ?? []) {
      if (!wanted(container.name)) continue;
      const restarted = (pod.status?.containerStatuses ?? []).some((s) => s.name === container.name && s.restartCount > 0);
      for (const previous of restarted ? [false, true] : [false]) {
        const what = `reading the ${previous ? 'previous ' : ''}log of ${namespace}/${name} container ${container.name}`;
        const text = await attempt(what, () => core.readNamespacedPodLog({ name, namespace, container: container.name, limitBytes: POD_LOG_LIMIT_BYTES, timestamps: true, previous }));
        if (text !== undefined) out.files.push({ name: `cluster/${folder}/${namespace}.${name}.${container.name}${previous ? '.previous' : ''}.log`, text: String(text) });
      }
    }
  }

  /** Every container's environment values (literal, and from Secrets the user may read): never in the archive. */
  async function environmentValues(pod: V1Pod): Promise<void> {
    const namespace = pod.metadata?.namespace ?? '';
    for (const container of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
      for (const env of container.env ?? []) {
        if (env.value) out.secrets.push(env.value);
        const secretRef = env.valueFrom?.secretKeyRef;
        if (secretRef?.name) await readSecretValue(namespace, secretRef.name, secretRef.key);
        const mapRef = env.valueFrom?.configMapKeyRef;
        if (mapRef?.name) await readConfigMapValues(namespace, mapRef.name, mapRef.key);
      }
      for (const source of container.envFrom ?? []) {
        if (source.secretRef?.name) await readSecretValue(namespace, source.secretRef.name);
        if (source.configMapRef?.name) await readConfigMapValues(namespace, source.configMapRef.name);
      }
    }
  }
}
