// The review kinds, answered on create and never stored: SelfSubjectAccessReview,
// SubjectAccessReview, LocalSubjectAccessReview and SelfSubjectRulesReview (authorization.k8s.io,
// so `kubectl auth can-i` works), TokenReview and SelfSubjectReview (authentication.k8s.io, so
// `kubectl auth whoami` works). Used by router.ts.
import { badRequest } from './status-errors.js';
import type { ApiContext } from './context.js';
import type { KindInfo } from './registry/kinds.js';
import type { UserInfo } from './auth.js';
import type { Attributes } from './rbac.js';

type Obj = Record<string, unknown>;

function attributesFrom(spec: Obj, user: UserInfo, namespaceOverride?: string): Attributes {
  const resource = spec.resourceAttributes as Obj | undefined;
  const nonResource = spec.nonResourceAttributes as Obj | undefined;
  if (resource) {
    return {
      user, resourceRequest: true, path: '',
      verb: String(resource.verb ?? ''),
      apiGroup: String(resource.group ?? ''),
      resource: String(resource.resource ?? ''),
      subresource: resource.subresource ? String(resource.subresource) : undefined,
      namespace: namespaceOverride ?? (resource.namespace ? String(resource.namespace) : undefined),
      name: resource.name ? String(resource.name) : undefined,
    };
  }
  if (nonResource) return { user, resourceRequest: false, path: String(nonResource.path ?? ''), verb: String(nonResource.verb ?? '') };
  throw badRequest('exactly one of nonResourceAttributes or resourceAttributes must be specified');
}

function accessReviewStatus(ctx: ApiContext, attrs: Attributes): Obj {
  const allowed = ctx.authorizer.allowed(attrs);
  return allowed ? { allowed: true, reason: 'RBAC: allowed' } : { allowed: false };
}

export function handleReview(ctx: ApiContext, kind: KindInfo, user: UserInfo, namespace: string | undefined, body: Obj): Obj {
  const spec = (body.spec as Obj | undefined) ?? {};
  const base = { kind: kind.kind, apiVersion: `${kind.group}/${kind.version}`, metadata: { ...((body.metadata as Obj | undefined) ?? {}), creationTimestamp: null } };
  switch (kind.kind) {
    case 'SelfSubjectAccessReview':
      return { ...base, spec, status: accessReviewStatus(ctx, attributesFrom(spec, user)) };
    case 'SubjectAccessReview':
    case 'LocalSubjectAccessReview': {
      const subject: UserInfo = { username: String(spec.user ?? ''), groups: (spec.groups as string[] | undefined) ?? [] };
      if (subject.username === '' && subject.groups.length === 0) throw badRequest('at least one of user or group must be specified');
      return { ...base, spec, status: accessReviewStatus(ctx, attributesFrom(spec, subject, kind.kind === 'LocalSubjectAccessReview' ? namespace : undefined)) };
    }
    case 'SelfSubjectRulesReview': {
      const ns = String(spec.namespace ?? '');
      const rules = user.groups.includes('system:masters')
        ? [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, { verbs: ['*'], nonResourceURLs: ['*'] }]
        : ctx.authorizer.rulesFor(user, ns === '' ? undefined : ns);
      return {
        ...base, spec,
        status: {
          resourceRules: rules.filter((r) => r.resources).map((r) => ({ verbs: r.verbs, apiGroups: r.apiGroups, resources: r.resources, ...(r.resourceNames ? { resourceNames: r.resourceNames } : {}) })),
          nonResourceRules: rules.filter((r) => r.nonResourceURLs).map((r) => ({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs })),
          incomplete: false,
        },
      };
    }
    case 'TokenReview': {
      const token = String(spec.token ?? '');
      const found = token === '' ? undefined : ctx.tokens.verify(token);
      const wanted = (spec.audiences as string[] | undefined) ?? [];
      const audiences = found?.audiences ?? [];
      const audienceOk = wanted.length === 0 || wanted.some((a) => audiences.includes(a));
      if (!found || (wanted.length > 0 && !audienceOk)) {
        return { ...base, spec, status: { authenticated: false, user: {}, error: found ? 'token audiences do not match' : 'invalid bearer token' } };
      }
      const { audiences: _a, ...info } = found;
      return { ...base, spec, status: { authenticated: true, user: info, audiences: wanted.length > 0 ? wanted.filter((a) => audiences.includes(a)) : audiences } };
    }
    case 'SelfSubjectReview':
      return { ...base, status: { userInfo: user } };
    default:
      throw badRequest(`${kind.kind} is not supported`);
  }
}
