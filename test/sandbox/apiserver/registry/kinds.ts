// The table of resource kinds the sandbox serves: group/version, plural, kind, scope, short names,
// verbs and subresources. Discovery, routing, RBAC messages and defaults all read this one table.
// Leaves out: CRDs and aggregated APIs (the sandbox has neither). Used by discovery.ts, router.ts
// and the REST handlers.

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export const ALL_VERBS: Verb[] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const CREATE_ONLY: Verb[] = ['create'];

export type Subresource = 'status' | 'scale' | 'log' | 'portforward' | 'exec' | 'token' | 'binding' | 'finalize' | 'ephemeralcontainers';

export interface KindInfo {
  group: string;
  version: string;
  resource: string;      // plural, as in URLs
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  verbs: Verb[];
  subresources: Subresource[];
  /** metadata.generation is kept and bumped on spec changes. */
  generation?: boolean;
  /** The object has a status that only the status subresource writes. */
  hasStatus?: boolean;
  /** Not stored: a create returns a computed answer (reviews). */
  virtual?: boolean;
  singular: string;
}

function kind(partial: Omit<KindInfo, 'listKind' | 'verbs' | 'subresources' | 'singular'> & Partial<Pick<KindInfo, 'verbs' | 'subresources'>>): KindInfo {
  return {
    ...partial,
    listKind: `${partial.kind}List`,
    verbs: partial.verbs ?? ALL_VERBS,
    subresources: partial.subresources ?? [],
    singular: partial.kind.toLowerCase(),
  };
}

export const KINDS: KindInfo[] = [
  kind({ group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespaced: false, shortNames: ['ns'], verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], subresources: ['status', 'finalize'], hasStatus: true }),
  kind({ group: '', version: 'v1', resource: 'nodes', kind: 'Node', namespaced: false, shortNames: ['no'], subresources: ['status'], hasStatus: true }),
  kind({ group: '', version: 'v1', resource: 'pods', kind: 'Pod', namespaced: true, shortNames: ['po'], categories: ['all'], subresources: ['status', 'log', 'exec', 'portforward', 'binding', 'ephemeralcontainers'], hasStatus: true }),
  kind({ group: '', version: 'v1', resource: 'services', kind: 'Service', namespaced: true, shortNames: ['svc'], categories: ['all'], subresources: ['status'], hasStatus: true }),
  kind({ group: '', version: 'v1', resource: 'endpoints', kind: 'Endpoints', namespaced: true, shortNames: ['ep'] }),
  kind({ group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'] }),
  kind({ group: '', version: 'v1', resource: 'secrets', kind: 'Secret', namespaced: true }),
  kind({ group: '', version: 'v1', resource: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true, shortNames: ['sa'], subresources: ['token'] }),
  kind({ group: '', version: 'v1', resource: 'events', kind: 'Event', namespaced: true, shortNames: ['ev'] }),
  kind({ group: 'events.k8s.io', version: 'v1', resource: 'events', kind: 'Event', namespaced: true, shortNames: ['ev'] }),
  kind({ group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', kind: 'EndpointSlice', namespaced: true }),
  kind({ group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', namespaced: true, shortNames: ['deploy'], categories: ['all'], subresources: ['status', 'scale'], generation: true, hasStatus: true }),
  kind({ group: 'apps', version: 'v1', resource: 'replicasets', kind: 'ReplicaSet', namespaced: true, shortNames: ['rs'], categories: ['all'], subresources: ['status', 'scale'], generation: true, hasStatus: true }),
  kind({ group: 'apps', version: 'v1', resource: 'statefulsets', kind: 'StatefulSet', namespaced: true, shortNames: ['sts'], categories: ['all'], subresources: ['status', 'scale'], generation: true, hasStatus: true }),
  kind({ group: 'apps', version: 'v1', resource: 'daemonsets', kind: 'DaemonSet', namespaced: true, shortNames: ['ds'], categories: ['all'], subresources: ['status'], generation: true, hasStatus: true }),
  kind({ group: 'apps', version: 'v1', resource: 'controllerrevisions', kind: 'ControllerRevision', namespaced: true }),
  kind({ group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'roles', kind: 'Role', namespaced: true }),
  kind({ group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterroles', kind: 'ClusterRole', namespaced: false }),
  kind({ group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'rolebindings', kind: 'RoleBinding', namespaced: true }),
  kind({ group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false }),
  kind({ group: 'coordination.k8s.io', version: 'v1', resource: 'leases', kind: 'Lease', namespaced: true }),
  kind({ group: 'authentication.k8s.io', version: 'v1', resource: 'tokenreviews', kind: 'TokenReview', namespaced: false, verbs: CREATE_ONLY, virtual: true }),
  kind({ group: 'authentication.k8s.io', version: 'v1', resource: 'selfsubjectreviews', kind: 'SelfSubjectReview', namespaced: false, verbs: CREATE_ONLY, virtual: true }),
  kind({ group: 'authorization.k8s.io', version: 'v1', resource: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview', namespaced: false, verbs: CREATE_ONLY, virtual: true }),
  kind({ group: 'authorization.k8s.io', version: 'v1', resource: 'subjectaccessreviews', kind: 'SubjectAccessReview', namespaced: false, verbs: CREATE_ONLY, virtual: true }),
  kind({ group: 'authorization.k8s.io', version: 'v1', resource: 'localsubjectaccessreviews', kind: 'LocalSubjectAccessReview', namespaced: true, verbs: CREATE_ONLY, virtual: true }),
  kind({ group: 'authorization.k8s.io', version: 'v1', resource: 'selfsubjectrulesreviews', kind: 'SelfSubjectRulesReview', namespaced: false, verbs: CREATE_ONLY, virtual: true }),
];

/** Preferred version per group, in discovery order. */
export const GROUPS: { name: string; version: string }[] = [];
for (const k of KINDS) {
  if (k.group !== '' && !GROUPS.some((g) => g.name === k.group)) GROUPS.push({ name: k.group, version: k.version });
}

export function apiVersionOf(k: Pick<KindInfo, 'group' | 'version'>): string {
  return k.group === '' ? k.version : `${k.group}/${k.version}`;
}

export function findKind(group: string, version: string, resource: string): KindInfo | undefined {
  return KINDS.find((k) => k.group === group && k.version === version && k.resource === resource);
}

export function findKindByKind(apiVersion: string, kindName: string): KindInfo | undefined {
  return KINDS.find((k) => apiVersionOf(k) === apiVersion && k.kind === kindName);
}

/** The store key of a kind: one collection per group+resource (events share one per group). */
export function storeKey(k: Pick<KindInfo, 'group' | 'resource'>): string {
  return `${k.group}/${k.resource}`;
}
