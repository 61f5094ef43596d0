// RBAC evaluation over the stored Role/ClusterRole/RoleBinding/ClusterRoleBinding objects, with the
// upstream semantics: `*` wildcards, `resource/subresource` rules, resourceNames, nonResourceURLs
// (with trailing `*` prefixes), and `system:masters` bypassing everything. Also builds the upstream
// 403 message. Leaves out: aggregation rules (the default roles are written out in
// rbac-defaults.ts), escalation checks. Used by server.ts and reviews.ts.
import { ApiStatusError, qualifiedResource } from './status-errors.js';
import type { UserInfo } from './auth.js';
import type { K8sObject, Store } from './store.js';

export interface Attributes {
  user: UserInfo;
  verb: string;
  resourceRequest: boolean;
  path: string;
  apiGroup?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface PolicyRule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

interface Subject { kind: string; name: string; namespace?: string; apiGroup?: string }
interface RoleRef { kind: string; name: string }

function matchesSubject(subject: Subject, user: UserInfo, bindingNamespace: string | undefined): boolean {
  switch (subject.kind) {
    case 'User': return subject.name === user.username;
    case 'Group': return user.groups.includes(subject.name);
    case 'ServiceAccount': {
      const namespace = subject.namespace ?? bindingNamespace;
      return user.username === `system:serviceaccount:${namespace}:${subject.name}`;
    }
    default: return false;
  }
}

function ruleAllows(rule: PolicyRule, attrs: Attributes): boolean {
  const verbs = rule.verbs ?? [];
  if (!verbs.includes('*') && !verbs.includes(attrs.verb)) return false;
  if (!attrs.resourceRequest) {
    return (rule.nonResourceURLs ?? []).some((url) =>
      url === '*' || url === attrs.path || (url.endsWith('*') && attrs.path.startsWith(url.slice(0, -1))));
  }
  if (rule.nonResourceURLs && rule.nonResourceURLs.length > 0 && !rule.resources) return false;
  const groups = rule.apiGroups ?? [];
  if (!groups.includes('*') && !groups.includes(attrs.apiGroup ?? '')) return false;
  const combined = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource ?? '';
  const resources = rule.resources ?? [];
  const resourceOk = resources.some((r) =>
    r === '*' || r === combined || (attrs.subresource !== undefined && r === `*/${attrs.subresource}`) ||
    (attrs.subresource === undefined ? false : r === `${attrs.resource}/*`));
  if (!resourceOk) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (attrs.name !== undefined && names.includes(attrs.name));
}

export class Authorizer {
  constructor(private readonly store: Store) {}

  /** The rules that apply to a user in a namespace (cluster-wide rules when namespace is undefined). */
  rulesFor(user: UserInfo, namespace: string | undefined): PolicyRule[] {
    const rules: PolicyRule[] = [];
    for (const binding of this.store.list('rbac.authorization.k8s.io/clusterrolebindings')) {
      if (this.bound(binding, user, undefined)) rules.push(...this.roleRules(binding.roleRef as RoleRef, undefined));
    }
    if (namespace !== undefined) {
      for (const binding of this.store.list('rbac.authorization.k8s.io/rolebindings', namespace)) {
        if (this.bound(binding, user, namespace)) rules.push(...this.roleRules(binding.roleRef as RoleRef, namespace));
      }
    }
    return rules;
  }

  allowed(attrs: Attributes): boolean {
    if (attrs.user.groups.includes('system:masters')) return true;
    return this.rulesFor(attrs.user, attrs.resourceRequest ? attrs.namespace : undefined).some((rule) => ruleAllows(rule, attrs));
  }

  /** Throws the upstream 403 Status when the request is not allowed. */
  authorize(attrs: Attributes): void {
    if (!this.allowed(attrs)) throw forbidden(attrs);
  }

  private bound(binding: K8sObject, user: UserInfo, namespace: string | undefined): boolean {
    return ((binding.subjects as Subject[] | undefined) ?? []).some((s) => matchesSubject(s, user, namespace));
  }

  private roleRules(ref: RoleRef | undefined, namespace: string | undefined): PolicyRule[] {
    if (!ref) return [];
    const role = ref.kind === 'ClusterRole'
      ? this.store.get('rbac.authorization.k8s.io/clusterroles', undefined, ref.name)
      : namespace === undefined ? undefined : this.store.get('rbac.authorization.k8s.io/roles', namespace, ref.name);
    return (role?.rules as PolicyRule[] | undefined) ?? [];
  }
}

export function forbidden(attrs: Attributes): ApiStatusError {
  const who = `User "${attrs.user.username}"`;
  if (!attrs.resourceRequest) {
    return new ApiStatusError(403, 'Forbidden', `forbidden: ${who} cannot ${attrs.verb} path "${attrs.path}"`, {});
  }
  const group = attrs.apiGroup ?? '';
  const resource = attrs.resource ?? '';
  const subject = attrs.name ? `${qualifiedResource(group, resource)} "${attrs.name}"` : qualifiedResource(group, resource);
  const full = attrs.subresource ? `${resource}/${attrs.subresource}` : resource;
  const scope = attrs.namespace ? `in the namespace "${attrs.namespace}"` : 'at the cluster scope';
  return new ApiStatusError(403, 'Forbidden',
    `${subject} is forbidden: ${who} cannot ${attrs.verb} resource "${full}" in API group "${group}" ${scope}`,
    { ...(attrs.name ? { name: attrs.name } : {}), ...(group === '' ? {} : { group }), kind: resource });
}
