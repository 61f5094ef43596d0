// Two POST-only subresources: `serviceaccounts/<name>/token` (TokenRequest: a signed token for the
// ServiceAccount, with expirationSeconds and audiences, bound to it so deleting the SA revokes it)
// and `pods/<name>/binding` (sets spec.nodeName, as a scheduler would). Used by router.ts.
import { badRequest, conflict, methodNotAllowed } from './status-errors.js';
import { parseJsonObject, readBody, sendJson } from './http-util.js';
import type { ResourceRequest } from './router.js';

type Obj = Record<string, unknown>;

/** Upstream clamps requested lifetimes to [10 min, 48 h]; default is 1 h. */
const MIN_EXPIRATION_SECONDS = 600;
const MAX_EXPIRATION_SECONDS = 48 * 3600;
const DEFAULT_EXPIRATION_SECONDS = 3600;

export async function handleTokenRequest(r: ResourceRequest): Promise<void> {
  if (r.info.verb !== 'create') throw methodNotAllowed('the server does not allow this method on the requested resource');
  const sa = r.ctx.registry.get(r.kind, r.info.namespace, r.info.name ?? '');
  const body = parseJsonObject(await readBody(r.req), r.req.headers['content-type']);
  const spec = (body.spec as Obj | undefined) ?? {};
  const requested = spec.expirationSeconds === undefined ? DEFAULT_EXPIRATION_SECONDS : Number(spec.expirationSeconds);
  if (!Number.isInteger(requested) || requested < MIN_EXPIRATION_SECONDS) {
    throw badRequest(`TokenRequest.authentication.k8s.io "${r.info.name ?? ''}" is invalid: spec.expirationSeconds: Invalid value: ${JSON.stringify(spec.expirationSeconds)}: may not specify a duration less than 10 minutes`);
  }
  const expirationSeconds = Math.min(requested, MAX_EXPIRATION_SECONDS);
  const audiences = Array.isArray(spec.audiences) ? (spec.audiences as string[]) : [];
  const issued = r.ctx.tokens.issue({ namespace: r.info.namespace ?? '', name: sa.metadata.name ?? '', uid: sa.metadata.uid ?? '', expirationSeconds, audiences });
  sendJson(r.res, 201, {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name: sa.metadata.name, namespace: sa.metadata.namespace, creationTimestamp: null },
    spec: { ...spec, audiences: audiences.length > 0 ? audiences : ['https://kubernetes.default.svc.cluster.local'], expirationSeconds, boundObjectRef: spec.boundObjectRef ?? null },
    status: { token: issued.token, expirationTimestamp: issued.expirationTimestamp },
  });
}

export async function handleBinding(r: ResourceRequest): Promise<void> {
  if (r.info.verb !== 'create') throw methodNotAllowed('the server does not allow this method on the requested resource');
  const pod = r.ctx.registry.get(r.kind, r.info.namespace, r.info.name ?? '');
  const body = parseJsonObject(await readBody(r.req), r.req.headers['content-type']);
  const target = (body.target as Obj | undefined)?.name;
  if (typeof target !== 'string' || target === '') throw badRequest('target.name is required');
  const spec = (pod.spec as Obj | undefined) ?? {};
  if (spec.nodeName) throw conflict('', 'pods', `${r.info.name ?? ''}`);
  const next = structuredClone(pod);
  next.spec = { ...spec, nodeName: target };
  r.ctx.registry.commitUpdate(r.kind, pod, next);
  sendJson(r.res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
}
