// The Endpoints and EndpointSlice controllers in one: for every Service with a selector, keeps an
// Endpoints object of the same name (ready pods in addresses, unready in notReadyAddresses unless
// publishNotReadyAddresses, each with targetRef and nodeName) and discovery.k8s.io/v1
// EndpointSlices labelled `kubernetes.io/service-name` (one per port set, named
// `<service>-<port-set hash>`, endpoints with ready/serving/terminating conditions, owned by the
// Service). Services without a selector are left alone: their Endpoints belong to the user (or,
// for `kubernetes` and `kube-dns`, to the API server). Leaves out the 100-endpoints-per-slice split,
// topology hints and IPv6. Started by controllers/index.ts.
import type { V1EndpointAddress, V1EndpointSlice, V1EndpointSubset, V1Endpoints, V1Pod, V1Service } from '@kubernetes/client-node';
import createDebug from 'debug';
import type { Caches } from './caches.js';
import { keyOf, splitKey } from './pods.js';
import { serviceBackends, type Backend, type BackendGroup } from './service-endpoints.js';
import { canonicalJson, templateHash } from './template-hash.js';
import { WorkQueue } from './work-queue.js';
import { isConflict, type Writer } from './writer.js';

const log = createDebug('tp:sandbox:endpoints');
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY = 'endpointslice-controller.k8s.io';
const HEADLESS_LABEL = 'service.kubernetes.io/headless';

export class EndpointsController {
  private readonly queue: WorkQueue;
  /** Services deleted while they had a selector: their Endpoints and slices go too. */
  private readonly deleted = new Set<string>();
  /**
   * What was last written per object and the resourceVersion the server gave it: if the server
   * normalises what we send (drops or adds a field), comparing with the cache alone would rewrite
   * the object forever.
   */
  private readonly written = new Map<string, { desired: string; resourceVersion?: string }>();

  constructor(
    private readonly caches: Caches,
    private readonly writer: Writer,
  ) {
    this.queue = new WorkQueue('endpoints', (key) => this.reconcile(key));
    caches.services.onChange((svc, event) => {
      if (event === 'delete') this.deleted.add(keyOf(svc));
      else this.deleted.delete(keyOf(svc));
      this.queue.add(keyOf(svc));
    });
    caches.pods.onChange((pod) => this.enqueueServicesOf(pod));
    caches.endpoints.onChange((ep) => {
      if (caches.services.get(ep.metadata?.name ?? '', ep.metadata?.namespace)) this.queue.add(keyOf(ep));
    });
    caches.endpointSlices.onChange((slice) => {
      const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
      if (service && slice.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY) this.queue.add(`${slice.metadata?.namespace}/${service}`);
    });
  }

  resync(): void {
    for (const svc of this.caches.services.list()) this.queue.add(keyOf(svc));
  }

  close(): Promise<void> {
    return this.queue.close();
  }

  /** A pod's labels may have just changed, so every Service with a selector in its namespace looks again. */
  private enqueueServicesOf(pod: V1Pod): void {
    for (const svc of this.caches.services.list(pod.metadata?.namespace)) {
      if (Object.keys(svc.spec?.selector ?? {}).length > 0) this.queue.add(keyOf(svc));
    }
  }

  private async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svc = this.caches.services.get(name, namespace);
    if (!svc) {
      if (this.deleted.delete(key)) await this.removeAll(namespace, name);
      return;
    }
    if (Object.keys(svc.spec?.selector ?? {}).length === 0) return;
    const groups = serviceBackends(svc, this.caches.pods.list(namespace));
    await this.syncEndpoints(svc, groups);
    await this.syncSlices(svc, groups);
  }

  private async syncEndpoints(svc: V1Service, groups: BackendGroup[]): Promise<void> {
    const namespace = svc.metadata?.namespace ?? '';
    const name = svc.metadata?.name ?? '';
    const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
    const subsets: V1EndpointSubset[] = [];
    for (const group of groups) {
      const live = group.backends.filter((b) => !b.terminating);
      const addresses = live.filter((b) => b.ready || publishNotReady).map(address);
      const notReadyAddresses = live.filter((b) => !b.ready && !publishNotReady).map(address);
      if (addresses.length + notReadyAddresses.length === 0) continue;
      const subset: V1EndpointSubset = { ports: group.ports };
      if (addresses.length > 0) subset.addresses = addresses;
      if (notReadyAddresses.length > 0) subset.notReadyAddresses = notReadyAddresses;
      subsets.push(subset);
    }
    const labels = { ...(svc.metadata?.labels ?? {}) };
    if (svc.spec?.clusterIP === 'None') labels[HEADLESS_LABEL] = '';
    const existing = this.caches.endpoints.get(name, namespace);
    const desiredText = canonicalJson([subsets, labels]);
    if (existing && canonicalJson([existing.subsets ?? [], existing.metadata?.labels ?? {}]) === desiredText) return;
    if (existing && this.alreadyWritten(`ep/${namespace}/${name}`, desiredText, existing.metadata?.resourceVersion)) return;
    const body: V1Endpoints = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace, labels }, subsets };
    log('-> %s/%s: endpoints %s', namespace, name, subsets.map((s) => (s.addresses ?? []).map((a) => a.ip).join(',')).join(' | ') || '(none ready)');
    if (existing) {
      body.metadata!.resourceVersion = existing.metadata?.resourceVersion;
      body.metadata!.annotations = existing.metadata?.annotations;
      this.remember(`ep/${namespace}/${name}`, desiredText, await this.writer.replaceEndpoints(namespace, name, body));
    } else {
      try {
        this.remember(`ep/${namespace}/${name}`, desiredText, await this.writer.createEndpoints(namespace, body));
      } catch (error) {
        if (!isConflict(error)) throw error;
        throw new Error(`endpoints ${namespace}/${name} exist but are not in the cache yet`, { cause: error });
      }
    }
  }

  private async syncSlices(svc: V1Service, groups: BackendGroup[]): Promise<void> {
    const namespace = svc.metadata?.namespace ?? '';
    const serviceName = svc.metadata?.name ?? '';
    const desired = new Map<string, V1EndpointSlice>();
    // With no pods at all there is still one empty slice, as Kubernetes keeps a placeholder.
    const effective = groups.length > 0 ? groups : [{ key: '', ports: [], backends: [] }];
    for (const group of effective) {
      const sliceName = `${serviceName}-${templateHash(group.key).slice(0, 5)}`;
      desired.set(sliceName, {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: sliceName,
          namespace,
          labels: { ...(svc.metadata?.labels ?? {}), [SERVICE_NAME_LABEL]: serviceName, [MANAGED_BY_LABEL]: MANAGED_BY },
          ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: serviceName, uid: svc.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true }],
        },
        addressType: 'IPv4',
        endpoints: group.backends.map((b) => sliceEndpoint(b, svc.spec?.publishNotReadyAddresses === true)),
        ports: group.ports,
      });
    }
    const existing = this.caches.endpointSlices.list(namespace).filter((s) => s.metadata?.labels?.[SERVICE_NAME_LABEL] === serviceName && s.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY);
    for (const slice of existing) {
      if (!desired.has(slice.metadata?.name ?? '')) await this.writer.deleteEndpointSlice(namespace, slice.metadata?.name ?? '');
    }
    for (const [sliceName, body] of desired) {
      const current = existing.find((s) => s.metadata?.name === sliceName);
      if (!current) {
        try {
          this.remember(`eps/${namespace}/${sliceName}`, canonicalJson([body.endpoints, body.ports, body.metadata?.labels]), await this.writer.createEndpointSlice(namespace, body));
        } catch (error) {
          if (!isConflict(error)) throw error;
          throw new Error(`endpointslice ${namespace}/${sliceName} exists but is not in the cache yet`, { cause: error });
        }
        continue;
      }
      const desiredText = canonicalJson([body.endpoints, body.ports, body.metadata?.labels]);
      if (canonicalJson([current.endpoints ?? [], current.ports ?? [], current.metadata?.labels ?? {}]) === desiredText) continue;
      if (this.alreadyWritten(`eps/${namespace}/${sliceName}`, desiredText, current.metadata?.resourceVersion)) continue;
      body.metadata!.resourceVersion = current.metadata?.resourceVersion;
      this.remember(`eps/${namespace}/${sliceName}`, desiredText, await this.writer.replaceEndpointSlice(namespace, sliceName, body));
    }
  }

  private alreadyWritten(key: string, desired: string, resourceVersion: string | undefined): boolean {
    const last = this.written.get(key);
    return last !== undefined && last.desired === desired && last.resourceVersion === resourceVersion;
  }

  private remember(key: string, desired: string, result: { metadata?: { resourceVersion?: string } }): void {
    this.written.set(key, { desired, resourceVersion: result.metadata?.resourceVersion });
  }

  private async removeAll(namespace: string, name: string): Promise<void> {
    log('-> %s/%s: service deleted, removing its endpoints', namespace, name);
    for (const key of this.written.keys()) if (key.startsWith(`ep/${namespace}/${name}`) || key.startsWith(`eps/${namespace}/${name}-`)) this.written.delete(key);
    await this.writer.deleteEndpoints(namespace, name);
    for (const slice of this.caches.endpointSlices.list(namespace)) {
      if (slice.metadata?.labels?.[SERVICE_NAME_LABEL] === name && slice.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY) {
        await this.writer.deleteEndpointSlice(namespace, slice.metadata?.name ?? '');
      }
    }
  }
}

function address(backend: Backend): V1EndpointAddress {
  const a: V1EndpointAddress = {
    ip: backend.ip,
    targetRef: { kind: 'Pod', namespace: backend.pod.metadata?.namespace, name: backend.pod.metadata?.name, uid: backend.pod.metadata?.uid },
  };
  if (backend.pod.spec?.nodeName) a.nodeName = backend.pod.spec.nodeName;
  if (backend.hostname) a.hostname = backend.hostname;
  return a;
}

function sliceEndpoint(backend: Backend, publishNotReady: boolean): NonNullable<V1EndpointSlice['endpoints']>[number] {
  const podReady = backend.ready || backend.pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  const endpoint: NonNullable<V1EndpointSlice['endpoints']>[number] = {
    addresses: [backend.ip],
    conditions: { ready: (backend.ready || publishNotReady) && !backend.terminating, serving: podReady || publishNotReady, terminating: backend.terminating },
    targetRef: { kind: 'Pod', namespace: backend.pod.metadata?.namespace, name: backend.pod.metadata?.name, uid: backend.pod.metadata?.uid },
  };
  if (backend.pod.spec?.nodeName) endpoint.nodeName = backend.pod.spec.nodeName;
  if (backend.hostname) endpoint.hostname = backend.hostname;
  return endpoint;
}
