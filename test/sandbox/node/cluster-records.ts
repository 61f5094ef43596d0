// Kubernetes DNS records (the cluster DNS spec's A, SRV and PTR schema) computed from a snapshot of
// services, endpoints and pods. Pure: the DNS server (cluster-dns.ts) asks, tests call it directly.
// `<svc>.<ns>.svc` → ClusterIP, or the ready addresses for a headless service;
// `<host>.<svc>.<ns>.svc` → a pod with that hostname/subdomain; `_<port>._<proto>.<svc>.<ns>.svc`
// → SRV; `<a-b-c-d>.<ns>.pod` → A; PTR for service and pod IPs. Leaves out ExternalName services
// (answered as NXDOMAIN) and IPv6 (AAAA for a known name is an empty NOERROR).
import type { V1Endpoints, V1Pod, V1Service } from '@kubernetes/client-node';

export const CLUSTER_DOMAIN = 'cluster.local';
export const RECORD_TTL_SECONDS = 5;

export interface ClusterSnapshot {
  services(): V1Service[];
  endpoints(): V1Endpoints[];
  pods(): V1Pod[];
}

export type RecordType = 'A' | 'AAAA' | 'SRV' | 'PTR' | 'OTHER';

export type ClusterRecord =
  | { type: 'A'; address: string }
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string }
  | { type: 'PTR'; domain: string };

/** undefined: not a name this server is authoritative for (forward it). */
export type ClusterAnswer = { rcode: 'NOERROR' | 'NXDOMAIN'; records: ClusterRecord[] } | undefined;

const CLUSTER_REVERSE = /^(\d+)\.(\d+)\.(18|19)\.198\.in-addr\.arpa$/;

export function isClusterName(name: string): boolean {
  const n = normalize(name);
  return n === CLUSTER_DOMAIN || n.endsWith(`.${CLUSTER_DOMAIN}`) || CLUSTER_REVERSE.test(n);
}

export function answerClusterQuery(snapshot: ClusterSnapshot, name: string, type: RecordType): ClusterAnswer {
  const n = normalize(name);
  const reverse = CLUSTER_REVERSE.exec(n);
  if (reverse) {
    const domain = reverseName(snapshot, `198.${reverse[3]}.${reverse[2]}.${reverse[1]}`);
    if (!domain) return { rcode: 'NXDOMAIN', records: [] };
    return { rcode: 'NOERROR', records: type === 'PTR' ? [{ type: 'PTR', domain }] : [] };
  }
  if (!isClusterName(n)) return undefined;
  const labels = n.slice(0, -(CLUSTER_DOMAIN.length + 1)).split('.');
  const records = forwardRecords(snapshot, labels);
  if (!records) return { rcode: 'NXDOMAIN', records: [] };
  return { rcode: 'NOERROR', records: records.filter((r) => r.type === type) };
}

/** Every record a cluster name has (all types), or undefined if the name does not exist. */
function forwardRecords(snapshot: ClusterSnapshot, labels: string[]): ClusterRecord[] | undefined {
  if (labels.length === 3 && labels[2] === 'pod') {
    const ip = labels[0].replace(/-/g, '.');
    return /^\d+\.\d+\.\d+\.\d+$/.test(ip) ? [{ type: 'A', address: ip }] : undefined;
  }
  if (labels.at(-1) !== 'svc') return undefined;
  if (labels.length === 3) {
    const service = findService(snapshot, labels[1], labels[0]);
    return service ? serviceAddresses(snapshot, service).map((address) => ({ type: 'A', address })) : undefined;
  }
  if (labels.length === 4) {
    const [host, svc, ns] = labels;
    const ip = hostAddress(snapshot, ns, svc, host);
    return ip ? [{ type: 'A', address: ip }] : undefined;
  }
  if (labels.length === 5 && labels[0].startsWith('_') && labels[1].startsWith('_')) {
    const [portName, proto, svc, ns] = [labels[0].slice(1), labels[1].slice(1), labels[2], labels[3]];
    const service = findService(snapshot, ns, svc);
    if (!service) return undefined;
    const records = srvRecords(snapshot, service, portName, proto);
    return records.length > 0 ? records : undefined;
  }
  return undefined;
}

function findService(snapshot: ClusterSnapshot, ns: string, name: string): V1Service | undefined {
  return snapshot.services().find((s) => s.metadata?.namespace === ns && s.metadata?.name === name && s.spec?.type !== 'ExternalName');
}

function isHeadless(service: V1Service): boolean {
  return !service.spec?.clusterIP || service.spec.clusterIP === 'None';
}

function endpointsOf(snapshot: ClusterSnapshot, service: V1Service): V1Endpoints | undefined {
  return snapshot.endpoints().find((e) => e.metadata?.namespace === service.metadata?.namespace && e.metadata?.name === service.metadata?.name);
}

function serviceAddresses(snapshot: ClusterSnapshot, service: V1Service): string[] {
  if (!isHeadless(service)) return [service.spec!.clusterIP!];
  const subsets = endpointsOf(snapshot, service)?.subsets ?? [];
  return [...new Set(subsets.flatMap((s) => (s.addresses ?? []).map((a) => a.ip)))];
}

function hostAddress(snapshot: ClusterSnapshot, ns: string, svc: string, host: string): string | undefined {
  for (const subset of endpointsOf(snapshot, { metadata: { namespace: ns, name: svc } })?.subsets ?? []) {
    const address = (subset.addresses ?? []).find((a) => a.hostname === host);
    if (address) return address.ip;
  }
  const pod = snapshot.pods().find((p) => p.metadata?.namespace === ns && p.spec?.hostname === host && p.spec?.subdomain === svc && p.status?.podIP);
  return pod?.status?.podIP;
}

function srvRecords(snapshot: ClusterSnapshot, service: V1Service, portName: string, proto: string): ClusterRecord[] {
  const ns = service.metadata!.namespace!;
  const svc = service.metadata!.name!;
  const base = `${svc}.${ns}.svc.${CLUSTER_DOMAIN}`;
  const matches = (name: string | undefined, protocol: string | undefined): boolean =>
    (name ?? '') === portName && (protocol ?? 'TCP').toLowerCase() === proto;
  if (!isHeadless(service)) {
    return (service.spec?.ports ?? []).filter((p) => matches(p.name, p.protocol))
      .map((p) => ({ type: 'SRV', priority: 0, weight: 100, port: p.port, target: base }));
  }
  const records: ClusterRecord[] = [];
  for (const subset of endpointsOf(snapshot, service)?.subsets ?? []) {
    for (const port of (subset.ports ?? []).filter((p) => matches(p.name, p.protocol))) {
      for (const address of subset.addresses ?? []) {
        const host = address.hostname ?? address.ip.replace(/\./g, '-');
        records.push({ type: 'SRV', priority: 0, weight: 100, port: port.port, target: `${host}.${base}` });
      }
    }
  }
  return records;
}

function reverseName(snapshot: ClusterSnapshot, ip: string): string | undefined {
  const service = snapshot.services().find((s) => s.spec?.clusterIP === ip);
  if (service) return `${service.metadata!.name}.${service.metadata!.namespace}.svc.${CLUSTER_DOMAIN}`;
  const pod = snapshot.pods().find((p) => p.status?.podIP === ip && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
  if (!pod) return undefined;
  const ns = pod.metadata!.namespace!;
  if (pod.spec?.hostname && pod.spec.subdomain) return `${pod.spec.hostname}.${pod.spec.subdomain}.${ns}.svc.${CLUSTER_DOMAIN}`;
  return `${ip.replace(/\./g, '-')}.${ns}.pod.${CLUSTER_DOMAIN}`;
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}
