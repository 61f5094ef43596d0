// API discovery documents: /version, /api (APIVersions), /apis (APIGroupList), and one
// APIResourceList per group/version with scope, kind, verbs, short names, categories and the
// subresources (pods/log, deployments/scale, …), all built from registry/kinds.ts. Aggregated
// discovery (apidiscovery.k8s.io/v2) is not served: the legacy form is returned and kubectl falls
// back to it. Used by server.ts.
import { GROUPS, KINDS, type KindInfo, type Subresource } from './registry/kinds.js';

export const KUBERNETES_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0' };

export function versionInfo(): Record<string, string> {
  return {
    ...KUBERNETES_VERSION,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2024-12-11T00:00:00Z',
    goVersion: 'go1.23.3',
    compiler: 'gc',
    platform: `linux/${process.arch === 'x64' ? 'amd64' : process.arch}`,
  };
}

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export function apiGroupList(): Record<string, unknown> {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: GROUPS.map((g) => {
      const gv = { groupVersion: `${g.name}/${g.version}`, version: g.version };
      return { name: g.name, versions: [gv], preferredVersion: gv };
    }),
  };
}

export function apiGroup(name: string): Record<string, unknown> | undefined {
  const group = GROUPS.find((g) => g.name === name);
  if (!group) return undefined;
  const gv = { groupVersion: `${group.name}/${group.version}`, version: group.version };
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions: [gv], preferredVersion: gv };
}

const SUBRESOURCES: Record<Subresource, { kind: string; group?: string; version?: string; verbs: string[] }> = {
  status: { kind: '', verbs: ['get', 'patch', 'update'] },
  scale: { kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: ['get', 'patch', 'update'] },
  log: { kind: 'Pod', verbs: ['get'] },
  exec: { kind: 'PodExecOptions', verbs: ['create', 'get'] },
  portforward: { kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
  binding: { kind: 'Binding', verbs: ['create'] },
  token: { kind: 'TokenRequest', group: 'authentication.k8s.io', version: 'v1', verbs: ['create'] },
  finalize: { kind: 'Namespace', verbs: ['update'] },
  ephemeralcontainers: { kind: 'Pod', verbs: ['get', 'patch', 'update'] },
};

function resourceEntries(k: KindInfo): Record<string, unknown>[] {
  const main: Record<string, unknown> = { name: k.resource, singularName: k.singular, namespaced: k.namespaced, kind: k.kind, verbs: k.verbs };
  if (k.shortNames) main.shortNames = k.shortNames;
  if (k.categories) main.categories = k.categories;
  const subs = k.subresources.map((sub) => {
    const info = SUBRESOURCES[sub];
    const entry: Record<string, unknown> = { name: `${k.resource}/${sub}`, singularName: '', namespaced: k.namespaced, kind: info.kind || k.kind, verbs: info.verbs };
    if (info.group) {
      entry.group = info.group;
      entry.version = info.version;
    }
    return entry;
  });
  return [main, ...subs];
}

export function apiResourceList(group: string, version: string): Record<string, unknown> | undefined {
  const kinds = KINDS.filter((k) => k.group === group && k.version === version);
  if (kinds.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group === '' ? version : `${group}/${version}`,
    resources: kinds.flatMap(resourceEntries),
  };
}
