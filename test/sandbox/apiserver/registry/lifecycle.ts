// Kind-specific side effects of writes, where upstream has controllers or registry strategies:
// a new Namespace gets its `default` ServiceAccount and `kube-root-ca.crt` ConfigMap; deleting a
// Namespace deletes everything in it; Services get a cluster IP (and node ports) and give them
// back; legacy service-account token Secrets get token/ca.crt/namespace filled in; deleting a
// ServiceAccount deletes its token Secrets. Leaves out: quota, limit ranges.
// Used by server.ts, which wires these hooks into the ObjectRegistry next to gc.ts.
import { invalid } from '../status-errors.js';
import { findKind, type KindInfo } from './kinds.js';
import type { ClusterIpAllocator } from './cluster-ips.js';
import type { LifecycleHooks, ObjectRegistry, PropagationPolicy, WriteOptions } from './objects.js';
import type { TokenAuthority } from '../auth.js';
import type { K8sObject } from '../store.js';

export const SA_TOKEN_SECRET_TYPE = 'kubernetes.io/service-account-token';
const SA_NAME_ANNOTATION = 'kubernetes.io/service-account.name';
const SA_UID_ANNOTATION = 'kubernetes.io/service-account.uid';

type Obj = Record<string, unknown>;

function kindOf(resource: string, group = ''): KindInfo {
  const kind = findKind(group, 'v1', resource);
  if (!kind) throw new Error(`unknown kind ${group}/${resource}`);
  return kind;
}

export interface LifecycleDeps {
  registry: ObjectRegistry;
  ips: ClusterIpAllocator;
  tokens: TokenAuthority;
  caCert: string;
}

export function lifecycleHooks(deps: LifecycleDeps): LifecycleHooks {
  const { registry, ips, tokens, caCert } = deps;

  function fillTokenSecret(secret: K8sObject): void {
    const annotations = secret.metadata.annotations ?? {};
    const saName = annotations[SA_NAME_ANNOTATION];
    if (!saName) return;
    const sa = registry.find(kindOf('serviceaccounts'), secret.metadata.namespace, saName);
    if (!sa) return;
    secret.metadata.annotations = { ...annotations, [SA_UID_ANNOTATION]: sa.metadata.uid ?? '' };
    const { token } = tokens.issue({
      namespace: secret.metadata.namespace ?? '', name: saName, uid: sa.metadata.uid ?? '',
      secret: { name: secret.metadata.name ?? '', uid: secret.metadata.uid ?? '' },
    });
    const data = (secret.data as Record<string, string> | undefined) ?? {};
    secret.data = {
      ...data,
      token: Buffer.from(token).toString('base64'),
      'ca.crt': Buffer.from(caCert).toString('base64'),
      namespace: Buffer.from(secret.metadata.namespace ?? '').toString('base64'),
    };
  }

  function allocateServiceAddresses(service: K8sObject, options: WriteOptions): void {
    const spec = service.spec as Obj;
    const name = service.metadata.name ?? '';
    if (spec.type === 'ExternalName') return;
    const requested = typeof spec.clusterIP === 'string' ? spec.clusterIP : undefined;
    if (requested !== 'None') {
      const ip = ips.allocate(name, requested);
      if (options.dryRun) ips.release(ip);
      spec.clusterIP = ip;
      spec.clusterIPs = [ip];
    } else {
      spec.clusterIPs = ['None'];
    }
    if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') {
      for (const port of (spec.ports as Obj[] | undefined) ?? []) {
        port.nodePort = ips.allocateNodePort(name, typeof port.nodePort === 'number' ? port.nodePort : undefined);
        if (options.dryRun) ips.releaseNodePort(port.nodePort as number);
      }
    }
  }

  function deleteNamespaceContents(namespace: string): void {
    for (const { kind, object } of [...registry.allObjects()]) {
      if (kind.namespaced && object.metadata.namespace === namespace && registry.find(kind, namespace, object.metadata.name ?? '')) {
        const stripped = structuredClone(object);
        if ((stripped.metadata.finalizers ?? []).length > 0) {
          stripped.metadata.finalizers = [];
          registry.commitUpdate(kind, object, stripped);
        }
        if (registry.find(kind, namespace, object.metadata.name ?? '')) registry.delete(kind, namespace, object.metadata.name ?? '', { propagationPolicy: 'Orphan' });
      }
    }
  }

  return {
    beforeCreate(kind: KindInfo, object: K8sObject, options: WriteOptions): void {
      if (kind.group !== '') return;
      if (kind.resource === 'services') allocateServiceAddresses(object, options);
      if (kind.resource === 'secrets' && object.type === SA_TOKEN_SECRET_TYPE) fillTokenSecret(object);
    },
    afterCreate(kind: KindInfo, object: K8sObject): void {
      if (kind.group !== '' || kind.resource !== 'namespaces') return;
      const namespace = object.metadata.name ?? '';
      if (!registry.find(kindOf('serviceaccounts'), namespace, 'default')) {
        registry.create(kindOf('serviceaccounts'), namespace, { metadata: { name: 'default' } });
      }
      if (!registry.find(kindOf('configmaps'), namespace, 'kube-root-ca.crt')) {
        registry.create(kindOf('configmaps'), namespace, {
          metadata: { name: 'kube-root-ca.crt', annotations: { 'kubernetes.io/description': 'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.' } },
          data: { 'ca.crt': caCert },
        });
      }
    },
    beforeUpdate(kind: KindInfo, next: K8sObject, previous: K8sObject): void {
      if (kind.group !== '' || kind.resource !== 'services') return;
      const spec = next.spec as Obj;
      const before = previous.spec as Obj;
      if (spec.clusterIP === undefined || spec.clusterIP === '') {
        spec.clusterIP = before.clusterIP;
        spec.clusterIPs = before.clusterIPs;
      } else if (spec.clusterIP !== before.clusterIP) {
        throw invalid('', 'Service', next.metadata.name ?? '', [{ reason: 'FieldValueInvalid', field: 'spec.clusterIPs[0]', message: `Invalid value: []string{"${String(spec.clusterIP)}"}: may not change once set` }]);
      }
      if (spec.clusterIPs === undefined) spec.clusterIPs = before.clusterIPs;
      const oldPorts = (before.ports as Obj[] | undefined) ?? [];
      for (const port of (spec.ports as Obj[] | undefined) ?? []) {
        if ((spec.type === 'NodePort' || spec.type === 'LoadBalancer') && port.nodePort === undefined) {
          port.nodePort = oldPorts.find((p) => p.port === port.port && p.protocol === port.protocol)?.nodePort ?? ips.allocateNodePort(next.metadata.name ?? '');
        }
      }
    },
    afterDelete(kind: KindInfo, object: K8sObject, _policy: PropagationPolicy): void {
      if (kind.group !== '') return;
      if (kind.resource === 'services') {
        const spec = object.spec as Obj;
        if (spec.clusterIP !== 'None') ips.release(spec.clusterIP as string | undefined);
        for (const port of (spec.ports as Obj[] | undefined) ?? []) ips.releaseNodePort(port.nodePort as number | undefined);
      }
      if (kind.resource === 'namespaces') deleteNamespaceContents(object.metadata.name ?? '');
      if (kind.resource === 'serviceaccounts') {
        const secrets = kindOf('secrets');
        for (const secret of registry.list(secrets, object.metadata.namespace)) {
          if (secret.type === SA_TOKEN_SECRET_TYPE && secret.metadata.annotations?.[SA_NAME_ANNOTATION] === object.metadata.name) {
            registry.delete(secrets, secret.metadata.namespace, secret.metadata.name ?? '');
          }
        }
      }
    },
  };
}
