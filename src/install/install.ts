// `tp manager install | uninstall` as a library: applies the manifests from manifests.ts through
// the Kubernetes API (create what is missing; with `upgrade`, replace what an older tp made),
// then waits for the rollout and reports progress. Re-running is safe: an installed manager of the
// same version is left as it is, and the client token Secret is never regenerated. Uninstall
// first restores every workload that has a traffic-agent of this manager (with the user's
// credentials: the manager may already be broken), then deletes the manager's objects.
import { AppsV1Api, KubernetesObjectApi, type KubeConfig, type KubernetesObject, type V1Deployment } from '@kubernetes/client-node';
import { TpError } from '../errors.js';
import { isNotFound, kubeCall, kubeError, statusCode } from '../k8s/api-errors.js';
import { TP_VERSION } from '../version.js';
import { Injector } from '../inject/injector.js';
import { MANAGER_NAME } from '../api/names.js';
import { VERSION_ANNOTATION, managerManifests, type ManagerManifestOptions } from './manifests.js';

export interface InstallOptions extends ManagerManifestOptions {
  upgrade?: boolean;
  timeoutMs?: number;
  onProgress?: (message: string) => void;
}

export interface InstallResult {
  namespace: string;
  version: string;
  image: string;
  /** What happened to each object, e.g. `Deployment tp/traffic-manager: created`. */
  actions: string[];
}

type Action = 'created' | 'replaced' | 'unchanged';

export async function installManager(kc: KubeConfig, options: InstallOptions = {}): Promise<InstallResult> {
  const objects = managerManifests(options);
  const namespace = objects[0].metadata!.name!;
  const client = KubernetesObjectApi.makeApiClient(kc);
  const progress = options.onProgress ?? (() => undefined);

  const installed = await readOrNull<V1Deployment>(client, deploymentOf(objects));
  const installedVersion = installed?.metadata?.annotations?.[VERSION_ANNOTATION];
  if (installed && installedVersion !== TP_VERSION && !options.upgrade) {
    throw new TpError('TP_ERR_MANAGER_VERSION', `traffic-manager ${installedVersion ?? '(unknown version)'} is installed in namespace "${namespace}"; this tp is ${TP_VERSION}.`, {
      hints: [`Run \`tp manager install --upgrade${namespace === 'tp' ? '' : ` --manager-namespace ${namespace}`}\` to replace it.`],
    });
  }

  const actions: string[] = [];
  for (const object of objects) {
    const action = await applyOne(client, object, options.upgrade === true);
    const where = object.metadata?.namespace ? `${object.metadata.namespace}/` : '';
    actions.push(`${object.kind} ${where}${object.metadata?.name}: ${action}`);
    if (action !== 'unchanged') progress(`${object.kind} ${where}${object.metadata?.name} ${action}`);
  }
  await waitForRollout(kc, namespace, options.timeoutMs ?? 120_000, progress);
  const image = (deploymentOf(objects) as V1Deployment).spec!.template.spec!.containers[0].image!;
  return { namespace, version: TP_VERSION, image, actions };
}

export async function uninstallManager(kc: KubeConfig, options: { namespace?: string; onProgress?: (m: string) => void } = {}): Promise<{ namespace: string; removed: string[] }> {
  const objects = managerManifests({ namespace: options.namespace });
  const namespace = objects[0].metadata!.name!;
  const client = KubernetesObjectApi.makeApiClient(kc);
  const removed: string[] = [];
  for (const workload of await new Injector(kc, { managerNamespace: namespace }).uninstall(null)) {
    const name = `traffic-agent of ${workload.kind} ${workload.namespace}/${workload.name}`;
    removed.push(name);
    options.onProgress?.(`${name} removed`);
  }
  for (const object of [...objects].reverse()) {
    const name = `${object.kind} ${object.metadata?.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata?.name}`;
    try {
      await client.delete(object, undefined, undefined, undefined, undefined, 'Foreground');
      removed.push(name);
      options.onProgress?.(`${name} deleted`);
    } catch (err) {
      if (!isNotFound(err)) throw kubeError(`deleting ${name}`, err);
    }
  }
  return { namespace, removed };
}

async function applyOne(client: KubernetesObjectApi, object: KubernetesObject, upgrade: boolean): Promise<Action> {
  const what = `${object.kind} ${object.metadata?.name}`;
  const existing = await readOrNull<KubernetesObject>(client, object);
  if (!existing) {
    try {
      await client.create(object);
      return 'created';
    } catch (err) {
      // Another install made it between our read and our create: that is what we wanted.
      if (statusCode(err) === 409) return 'unchanged';
      throw kubeError(`creating ${what}`, err);
    }
  }
  // The namespace and the client token are kept as they are: replacing the token would lock out
  // every connected client, and a namespace has nothing of ours to upgrade.
  if (!upgrade || object.kind === 'Namespace' || object.kind === 'Secret') return 'unchanged';
  const replacement = { ...object, metadata: { ...object.metadata, resourceVersion: existing.metadata?.resourceVersion } } as KubernetesObject & { spec?: Record<string, unknown> };
  if (object.kind === 'Service') {
    // clusterIP is immutable: carry the allocated one over.
    const clusterIP = (existing as { spec?: { clusterIP?: string } }).spec?.clusterIP;
    replacement.spec = { ...replacement.spec, clusterIP };
  }
  await kubeCall(`replacing ${what}`, () => client.replace(replacement));
  return 'replaced';
}

async function readOrNull<T extends KubernetesObject>(client: KubernetesObjectApi, object: KubernetesObject): Promise<T | null> {
  try {
    return (await client.read(object as T & { metadata: { name: string } })) as T;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw kubeError(`reading ${object.kind} ${object.metadata?.name}`, err);
  }
}

function deploymentOf(objects: KubernetesObject[]): KubernetesObject {
  return objects.find((o) => o.kind === 'Deployment')!;
}

/** Waits until the manager Deployment's newest generation is fully available, like `kubectl rollout status`. */
export async function waitForRollout(kc: KubeConfig, namespace: string, timeoutMs: number, progress: (m: string) => void): Promise<void> {
  const apps = kc.makeApiClient(AppsV1Api);
  const deadline = Date.now() + timeoutMs;
  let lastMessage = '';
  for (;;) {
    const deployment = await kubeCall('reading the traffic-manager Deployment', () => apps.readNamespacedDeployment({ name: MANAGER_NAME, namespace }));
    const message = rolloutMessage(deployment);
    if (message === null) return;
    if (message !== lastMessage) progress(message);
    lastMessage = message;
    if (Date.now() > deadline) {
      throw new TpError('TP_ERR_MANAGER_NOT_READY', `The traffic-manager did not become ready within ${Math.round(timeoutMs / 1000)} s (${message}).`, {
        hints: [`Look at its pod: kubectl -n ${namespace} describe pod -l app.kubernetes.io/name=${MANAGER_NAME}`, `and its log: kubectl -n ${namespace} logs deploy/${MANAGER_NAME}`],
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** null when rolled out, else what is still awaited (the wording of `kubectl rollout status`). */
export function rolloutMessage(deployment: V1Deployment): string | null {
  const want = deployment.spec?.replicas ?? 1;
  const status = deployment.status ?? {};
  if ((status.observedGeneration ?? 0) < (deployment.metadata?.generation ?? 0)) return 'waiting for the deployment spec update to be observed';
  const updated = status.updatedReplicas ?? 0;
  if (updated < want) return `${updated} of ${want} updated replicas are available`;
  if ((status.replicas ?? 0) > updated) return `${(status.replicas ?? 0) - updated} old replicas are pending termination`;
  const available = status.availableReplicas ?? 0;
  if (available < updated) return `${available} of ${updated} updated replicas are available`;
  return null;
}
