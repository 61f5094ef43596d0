// The shared watch caches the controllers read from: one list+watch per resource type across all
// namespaces, shared the way kube-controller-manager shares informers, so that each resource is
// watched once however many controllers look at it. Started and closed by controllers/index.ts.
import type { KubeConfig, V1Deployment, V1Endpoints, V1EndpointSlice, V1Pod, V1ReplicaSet, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import { WatchCache } from './watch-cache.js';

export class Caches {
  readonly pods: WatchCache<V1Pod>;
  readonly replicaSets: WatchCache<V1ReplicaSet>;
  readonly deployments: WatchCache<V1Deployment>;
  readonly statefulSets: WatchCache<V1StatefulSet>;
  readonly services: WatchCache<V1Service>;
  readonly endpoints: WatchCache<V1Endpoints>;
  readonly endpointSlices: WatchCache<V1EndpointSlice>;

  constructor(kc: KubeConfig) {
    this.pods = new WatchCache(kc, '/api/v1/pods');
    this.replicaSets = new WatchCache(kc, '/apis/apps/v1/replicasets');
    this.deployments = new WatchCache(kc, '/apis/apps/v1/deployments');
    this.statefulSets = new WatchCache(kc, '/apis/apps/v1/statefulsets');
    this.services = new WatchCache(kc, '/api/v1/services');
    this.endpoints = new WatchCache(kc, '/api/v1/endpoints');
    this.endpointSlices = new WatchCache(kc, '/apis/discovery.k8s.io/v1/endpointslices');
  }

  private all(): WatchCache<never>[] {
    return [this.pods, this.replicaSets, this.deployments, this.statefulSets, this.services, this.endpoints, this.endpointSlices] as unknown as WatchCache<never>[];
  }

  async start(): Promise<void> {
    await Promise.all(this.all().map((cache) => cache.start()));
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((cache) => cache.close()));
  }
}
