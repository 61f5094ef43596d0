// What a fresh sandbox cluster holds before anyone writes: the namespaces default, kube-system,
// kube-public and kube-node-lease (each with its default ServiceAccount and kube-root-ca.crt),
// the default RBAC roles and bindings, the `kubernetes` Service (198.19.0.1:443 → apiEndpoint)
// and `kube-dns` (198.19.0.10, dns 53/UDP and dns-tcp 53/TCP → dnsEndpoint), with their
// Endpoints and EndpointSlices. Used by server.ts.
import { findKind, type KindInfo } from './registry/kinds.js';
import { KUBE_DNS_SERVICE_IP, KUBERNETES_SERVICE_IP } from './registry/cluster-ips.js';
import { DEFAULT_CLUSTER_ROLE_BINDINGS, DEFAULT_CLUSTER_ROLES } from './rbac-defaults.js';
import type { ObjectRegistry } from './registry/objects.js';

export const DEFAULT_API_ENDPOINT = { ip: '198.18.0.1', port: 6443 };
export const DEFAULT_DNS_ENDPOINT = { ip: '198.18.0.1' };
export const BUILT_IN_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

function kind(group: string, resource: string): KindInfo {
  const found = findKind(group, 'v1', resource);
  if (!found) throw new Error(`unknown kind ${group}/${resource}`);
  return found;
}

interface PortSpec { name: string; port: number; protocol: string }

function serviceEndpoints(registry: ObjectRegistry, namespace: string, name: string, ip: string, ports: PortSpec[], labels: Record<string, string>): void {
  registry.create(kind('', 'endpoints'), namespace, {
    metadata: { name, labels },
    subsets: [{ addresses: [{ ip }], ports }],
  });
  registry.create(kind('discovery.k8s.io', 'endpointslices'), namespace, {
    metadata: { name, labels: { ...labels, 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'sandbox-apiserver' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [ip], conditions: { ready: true, serving: true, terminating: false } }],
    ports,
  });
}

export function bootstrap(registry: ObjectRegistry, apiEndpoint: { ip: string; port: number }, dnsEndpoint: { ip: string }): void {
  for (const name of BUILT_IN_NAMESPACES) registry.create(kind('', 'namespaces'), undefined, { metadata: { name } });
  for (const role of DEFAULT_CLUSTER_ROLES) registry.create(kind('rbac.authorization.k8s.io', 'clusterroles'), undefined, role);
  for (const binding of DEFAULT_CLUSTER_ROLE_BINDINGS) registry.create(kind('rbac.authorization.k8s.io', 'clusterrolebindings'), undefined, binding);

  const apiLabels = { component: 'apiserver', provider: 'kubernetes' };
  registry.create(kind('', 'services'), 'default', {
    metadata: { name: 'kubernetes', labels: apiLabels },
    spec: { type: 'ClusterIP', clusterIP: KUBERNETES_SERVICE_IP, ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: apiEndpoint.port }] },
  });
  serviceEndpoints(registry, 'default', 'kubernetes', apiEndpoint.ip, [{ name: 'https', port: apiEndpoint.port, protocol: 'TCP' }], apiLabels);

  const dnsLabels = { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' };
  registry.create(kind('', 'services'), 'kube-system', {
    metadata: { name: 'kube-dns', labels: dnsLabels },
    spec: {
      type: 'ClusterIP', clusterIP: KUBE_DNS_SERVICE_IP,
      ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 }, { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 }],
    },
  });
  serviceEndpoints(registry, 'kube-system', 'kube-dns', dnsEndpoint.ip,
    [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }], dnsLabels);
}
