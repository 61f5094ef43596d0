// The one routing decision: does a connection to (or a DNS question about) a host go through the
// cluster or stay direct? Used by the SOCKS5 server, the HTTP proxy, the PAC file generator, the
// DNS stub, the daemon's tunnel dial and tp run's shims (through the routes file, the redirect
// listener and name queries), so they can never disagree. Pure: no DNS lookups, no I/O; names
// are judged by their shape and IP literals by CIDR. Also gives the fully qualified name to ask the
// cluster's DNS for. Leaves out where the table's contents come from (flags, the manager).
//
// Precedence, first match wins:
//   1. neverProxy (CIDRs and name patterns) → direct
//   2. localhost, loopback, link-local and unspecified addresses → direct
//   3. excludeSuffixes → direct
//   4. alsoProxy (CIDRs and name patterns) → cluster
//   5. includeSuffixes → cluster
//   6. cluster names (`svc`, `svc.ns`, `svc.ns.svc`, `*.cluster.local`, `pod.svc.ns`) and
//      service/pod CIDRs → cluster
//   7. everything else → direct
import { TpError } from '../errors.js';
import { findCidr, parseCidr, parseIp, type Cidr } from '../net/cidr.js';

export type Via = 'cluster' | 'direct';

export interface RouteTarget {
  host: string;
  port?: number;
}

/** Where a connection goes; for the cluster, also under which host it is opened there. */
export type DialRoute =
  | { via: 'direct' }
  | {
      via: 'cluster';
      /** The host to open in the cluster: a name of cluster shape fully qualified (`svc` → `svc.<ns>.svc.<domain>`), other names and addresses as given. */
      clusterHost: string;
    };

export type RouteDecision = DialRoute & {
  /** Why, in words a user reads in logs and `tp status` ("service CIDR 10.96.0.0/12"). */
  reason: string;
};

/** The decision before the cluster host is attached. */
interface Verdict {
  via: Via;
  reason: string;
}

export interface RoutingOptions {
  /** The cluster's DNS domain. Default `cluster.local`. */
  clusterDomain?: string;
  /** The namespace tp is connected to: single-label names are services in it. Default `default`. */
  namespace?: string;
  /** The cluster's namespaces, so `svc.ns` is recognised as a cluster name. */
  namespaces?: readonly string[];
  serviceCidrs?: readonly string[];
  podCidrs?: readonly string[];
  /** CIDRs and name patterns reached through the cluster (cloud resources the cluster can reach). */
  alsoProxy?: readonly string[];
  /** CIDRs and name patterns that always stay direct; wins over everything. */
  neverProxy?: readonly string[];
  /** Name suffixes sent to the cluster (`.corp.example`). */
  includeSuffixes?: readonly string[];
  /** Name suffixes kept direct, even if they look like cluster names. */
  excludeSuffixes?: readonly string[];
}

/** A name pattern: `*.example.com` (subdomains only), `.example.com` (it and subdomains), or an exact name. */
export interface NamePattern {
  text: string;
  exact?: string;
  suffix?: string;
}

export interface RoutingTable {
  readonly clusterDomain: string;
  readonly namespace: string;
  readonly namespaces: ReadonlySet<string>;
  readonly serviceCidrs: readonly Cidr[];
  readonly podCidrs: readonly Cidr[];
  readonly alsoProxyCidrs: readonly Cidr[];
  readonly alsoProxyNames: readonly NamePattern[];
  readonly neverProxyCidrs: readonly Cidr[];
  readonly neverProxyNames: readonly NamePattern[];
  readonly includeSuffixes: readonly string[];
  readonly excludeSuffixes: readonly string[];
}

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
export const DEFAULT_NAMESPACE = 'default';

/** Addresses that are this machine or this link: never sent to the cluster. */
export const LOCAL_CIDRS: readonly { cidr: Cidr; reason: string }[] = [
  { cidr: parseCidr('127.0.0.0/8'), reason: 'loopback address' },
  { cidr: parseCidr('::1/128'), reason: 'loopback address' },
  { cidr: parseCidr('169.254.0.0/16'), reason: 'link-local address' },
  { cidr: parseCidr('fe80::/10'), reason: 'link-local address' },
  { cidr: parseCidr('0.0.0.0/32'), reason: 'unspecified address' },
  { cidr: parseCidr('::/128'), reason: 'unspecified address' },
];

/** A routing option that does not parse (bad CIDR, empty pattern). */
export class RoutingConfigError extends TpError {
  constructor(message: string, cause?: unknown) {
    super('TP_ERR_ROUTING_BAD_CONFIG', message, {
      cause,
      hints: ['Name patterns look like *.internal.example.com, .example.com or host.example.com; CIDRs like 10.0.0.0/8.'],
    });
  }
}

/** Lower-cases, strips one trailing dot and IPv6 brackets. */
export function normalizeHost(host: string): string {
  let name = host.trim().toLowerCase();
  if (name.startsWith('[') && name.endsWith(']')) name = name.slice(1, -1);
  if (name.endsWith('.')) name = name.slice(0, -1);
  return name;
}

function normalizeSuffix(suffix: string): string {
  const name = normalizeHost(suffix);
  return name.startsWith('.') ? name.slice(1) : name;
}

function parseNamePattern(text: string): NamePattern {
  const name = normalizeHost(text);
  if (name.startsWith('*.')) return { text, suffix: name.slice(2) };
  if (name.startsWith('.')) return { text, exact: name.slice(1), suffix: name.slice(1) };
  if (name === '' || name.includes('*')) throw new RoutingConfigError(`"${text}" is not a name pattern`);
  return { text, exact: name };
}

function matchesName(pattern: NamePattern, name: string): boolean {
  if (pattern.exact !== undefined && name === pattern.exact) return true;
  return pattern.suffix !== undefined && name.endsWith(`.${pattern.suffix}`);
}

function hasSuffix(name: string, suffix: string): boolean {
  return name === suffix || name.endsWith(`.${suffix}`);
}

/** Splits a list of CIDRs-or-patterns: IP-looking entries are CIDRs, the rest name patterns. */
function splitEntries(entries: readonly string[]): { cidrs: Cidr[]; names: NamePattern[] } {
  const cidrs: Cidr[] = [];
  const names: NamePattern[] = [];
  for (const entry of entries) {
    const looksLikeIp = parseIp(entry.split('/')[0]) !== undefined;
    if (looksLikeIp) cidrs.push(parseCidr(entry));
    else names.push(parseNamePattern(entry));
  }
  return { cidrs, names };
}

/** Builds a routing table from options, parsing every CIDR and pattern once. Throws on bad input. */
export function createRoutingTable(options: RoutingOptions = {}): RoutingTable {
  const also = splitEntries(options.alsoProxy ?? []);
  const never = splitEntries(options.neverProxy ?? []);
  const namespace = normalizeHost(options.namespace ?? DEFAULT_NAMESPACE);
  return {
    clusterDomain: normalizeSuffix(options.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN),
    namespace,
    namespaces: new Set([namespace, ...(options.namespaces ?? []).map(normalizeHost)]),
    serviceCidrs: (options.serviceCidrs ?? []).map(parseCidr),
    podCidrs: (options.podCidrs ?? []).map(parseCidr),
    alsoProxyCidrs: also.cidrs,
    alsoProxyNames: also.names,
    neverProxyCidrs: never.cidrs,
    neverProxyNames: never.names,
    includeSuffixes: (options.includeSuffixes ?? []).map(normalizeSuffix),
    excludeSuffixes: (options.excludeSuffixes ?? []).map(normalizeSuffix),
  };
}

function decideAddress(address: Uint8Array, table: RoutingTable): Verdict {
  const never = findCidr(table.neverProxyCidrs, address);
  if (never) return { via: 'direct', reason: `never-proxy ${never.text}` };
  const local = LOCAL_CIDRS.find((entry) => findCidr([entry.cidr], address));
  if (local) return { via: 'direct', reason: local.reason };
  const also = findCidr(table.alsoProxyCidrs, address);
  if (also) return { via: 'cluster', reason: `also-proxy ${also.text}` };
  const service = findCidr(table.serviceCidrs, address);
  if (service) return { via: 'cluster', reason: `service CIDR ${service.text}` };
  const pod = findCidr(table.podCidrs, address);
  if (pod) return { via: 'cluster', reason: `pod CIDR ${pod.text}` };
  return { via: 'direct', reason: 'address outside the cluster CIDRs' };
}

/**
 * How a name maps onto the cluster's DNS, or undefined when it is not a cluster name by shape.
 * `labels` are the name's dot-separated parts.
 */
function clusterNameShape(name: string, table: RoutingTable): { reason: string; fqdn: string } | undefined {
  const domain = table.clusterDomain;
  if (hasSuffix(name, domain)) return { reason: `under the cluster domain ${domain}`, fqdn: name };
  const labels = name.split('.');
  const last = labels[labels.length - 1];
  if (labels.length === 1) {
    return { reason: `single label: a service in namespace ${table.namespace}`, fqdn: `${name}.${table.namespace}.svc.${domain}` };
  }
  // svc.ns and pod.svc.ns (a pod under a headless service): the search path `<ns>.svc.<domain>`.
  if (labels.length <= 3 && table.namespaces.has(last)) {
    return { reason: `namespace ${last}`, fqdn: `${name}.svc.${domain}` };
  }
  // svc.ns.svc and pod.svc.ns.svc: the search path `<domain>`.
  if (last === 'svc' && labels.length <= 4 && table.namespaces.has(labels[labels.length - 2])) {
    return { reason: `namespace ${labels[labels.length - 2]}`, fqdn: `${name}.${domain}` };
  }
  return undefined;
}

function decideName(name: string, table: RoutingTable): Verdict {
  const never = table.neverProxyNames.find((pattern) => matchesName(pattern, name));
  if (never) return { via: 'direct', reason: `never-proxy ${never.text}` };
  if (hasSuffix(name, 'localhost')) return { via: 'direct', reason: 'localhost' };
  const excluded = table.excludeSuffixes.find((suffix) => hasSuffix(name, suffix));
  if (excluded) return { via: 'direct', reason: `excluded suffix ${excluded}` };
  const also = table.alsoProxyNames.find((pattern) => matchesName(pattern, name));
  if (also) return { via: 'cluster', reason: `also-proxy ${also.text}` };
  const included = table.includeSuffixes.find((suffix) => hasSuffix(name, suffix));
  if (included) return { via: 'cluster', reason: `included suffix ${included}` };
  const shape = clusterNameShape(name, table);
  if (shape) return { via: 'cluster', reason: shape.reason };
  return { via: 'direct', reason: 'not a cluster name' };
}

/** The routing decision for a host (name or IP literal, any case, optional trailing dot). */
export function decideRoute(target: RouteTarget, table: RoutingTable): RouteDecision {
  const host = normalizeHost(target.host);
  if (host === '') return { via: 'direct', reason: 'empty host' };
  const address = parseIp(host);
  const verdict = address ? decideAddress(address, table) : decideName(host, table);
  if (verdict.via === 'direct') return { via: 'direct', reason: verdict.reason };
  const clusterHost = address ? target.host : (clusterNameShape(host, table)?.fqdn ?? host);
  return { via: 'cluster', reason: verdict.reason, clusterHost };
}

/**
 * The fully qualified name (no trailing dot) to ask the cluster's DNS for: `svc` →
 * `svc.<ns>.svc.cluster.local`, `svc.ns` → `svc.ns.svc.cluster.local`; names routed to the
 * cluster for other reasons (alsoProxy, includeSuffixes) are asked as they are. Undefined when
 * the name is not routed to the cluster or is an IP literal.
 */
export function clusterQueryName(host: string, table: RoutingTable): string | undefined {
  const name = normalizeHost(host);
  if (parseIp(name)) return undefined;
  const decision = decideRoute({ host: name }, table);
  return decision.via === 'cluster' ? decision.clusterHost : undefined;
}
