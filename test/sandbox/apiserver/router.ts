// Serves resource requests (/api/v1/…, /apis/<g>/<v>/…) once server.ts has authenticated and
// authorized them: get, list (selectors, limit/continue, tables), watch, create, update, patch,
// delete and deletecollection on stored kinds (creates and updates pass Pod Security admission), and hands subresources (status, scale, log, token,
// binding, finalize) and review kinds to their modules. Port-forward arrives as an upgrade, in
// portforward.ts. Used by server.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiStatusError, badRequest, gone, methodNotAllowed, notFound, unsupportedMediaType } from './status-errors.js';
import { apiVersionOf, findKind, storeKey, type KindInfo } from './registry/kinds.js';
import { parseJsonObject, readBody, sendJson } from './http-util.js';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.js';
import { partialObjectMetadata, toTable, wantsTable, type IncludeObject } from './tables.js';
import { serveWatch } from './watch.js';
import { applyPatch } from './patch/apply-patch.js';
import { PROTOBUF_CONTENT_TYPE } from './protobuf.js';
import { handleScale } from './scale.js';
import { handlePodLog } from './pod-logs.js';
import { handleReview } from './reviews.js';
import { handleTokenRequest, handleBinding } from './token-request.js';
import { admitPodSecurity, setWarningHeaders } from './admission/pod-security.js';
import type { ApiContext } from './context.js';
import type { RequestInfo } from './request-info.js';
import type { UserInfo } from './auth.js';
import type { K8sObject } from './store.js';
import type { DeleteOptions, PropagationPolicy } from './registry/objects.js';

export interface ResourceRequest {
  ctx: ApiContext;
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  info: RequestInfo;
  user: UserInfo;
  kind: KindInfo;
}

export function resolveKind(info: RequestInfo): KindInfo {
  const kind = info.resource === undefined ? undefined : findKind(info.apiGroup, info.apiVersion, info.resource);
  if (!kind) throw new ApiStatusError(404, 'NotFound', 'the server could not find the requested resource');
  return kind;
}

function encodeObject(r: ResourceRequest, object: K8sObject): unknown {
  const accept = r.req.headers.accept ?? '';
  if (wantsTable(accept)) return toTable(r.kind.kind, [object], includeObject(r.url), r.ctx.now(), { resourceVersion: object.metadata.resourceVersion });
  if (/as=PartialObjectMetadata/.test(accept)) return partialObjectMetadata(object);
  return object;
}

function includeObject(url: URL): IncludeObject {
  const value = url.searchParams.get('includeObject');
  if (value === 'Object' || value === 'None') return value;
  return 'Metadata';
}

function requireJson(req: IncomingMessage): void {
  const type = (req.headers['content-type'] ?? 'application/json').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json' && type !== '' && type !== PROTOBUF_CONTENT_TYPE) throw unsupportedMediaType(type, ['application/json']);
}

function dryRun(url: URL): boolean {
  const values = url.searchParams.getAll('dryRun');
  for (const value of values) if (value !== 'All') throw badRequest(`Invalid dry run value: ${value}: valid values are "All"`);
  return values.length > 0;
}

function matcher(r: ResourceRequest): (object: K8sObject) => boolean {
  const labels = parseLabelSelector(r.url.searchParams.get('labelSelector'));
  let fieldText = r.url.searchParams.get('fieldSelector') ?? '';
  if (r.info.name !== undefined) fieldText = fieldText ? `${fieldText},metadata.name=${r.info.name}` : `metadata.name=${r.info.name}`;
  const fields = parseFieldSelector(fieldText, r.kind.kind);
  return (object) => matchesLabels(labels, object) && matchesFields(fields, object);
}

interface ContinueToken { rv: number; start: string }

function listObjects(r: ResourceRequest): void {
  const { ctx, url, kind } = r;
  const matches = matcher(r);
  const rvMatch = url.searchParams.get('resourceVersionMatch');
  const rv = url.searchParams.get('resourceVersion');
  if (rvMatch === 'Exact' && rv && Number(rv) < ctx.store.oldestResumableRevision) {
    throw gone(`too old resource version: ${rv} (${ctx.store.oldestResumableRevision + 1})`);
  }
  let items = ctx.registry.list(kind, r.info.namespace).filter(matches);
  const limit = Number(url.searchParams.get('limit') ?? '0');
  const continueText = url.searchParams.get('continue');
  const listMeta: Record<string, unknown> = { resourceVersion: String(ctx.store.currentRevision) };
  if (continueText) {
    let token: ContinueToken;
    try {
      token = JSON.parse(Buffer.from(continueText, 'base64url').toString('utf8')) as ContinueToken;
    } catch {
      throw badRequest('continue key is not valid: incorrect encoded start resourceVersion');
    }
    if (token.rv < ctx.store.oldestResumableRevision) {
      throw gone('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results.');
    }
    items = items.filter((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}` > token.start);
  }
  if (Number.isInteger(limit) && limit > 0 && items.length > limit) {
    const last = items[limit - 1];
    const token: ContinueToken = { rv: ctx.store.currentRevision, start: `${last.metadata.namespace ?? ''}/${last.metadata.name}` };
    listMeta.continue = Buffer.from(JSON.stringify(token)).toString('base64url');
    listMeta.remainingItemCount = items.length - limit;
    items = items.slice(0, limit);
  }
  const accept = r.req.headers.accept ?? '';
  if (wantsTable(accept)) {
    sendJson(r.res, 200, toTable(kind.kind, items, includeObject(url), ctx.now(), listMeta));
  } else if (/as=PartialObjectMetadataList/.test(accept)) {
    sendJson(r.res, 200, { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: listMeta, items: items.map(partialObjectMetadata) });
  } else {
    sendJson(r.res, 200, { kind: kind.listKind, apiVersion: apiVersionOf(kind), metadata: listMeta, items });
  }
}

function watchObjects(r: ResourceRequest): void {
  const { ctx, url, kind } = r;
  const timeout = url.searchParams.get('timeoutSeconds');
  const accept = r.req.headers.accept ?? '';
  const table = wantsTable(accept);
  serveWatch(ctx.store, ctx.watches, {
    key: storeKey(kind),
    kindName: kind.kind,
    apiVersion: apiVersionOf(kind),
    namespace: kind.namespaced ? r.info.namespace : undefined,
    matches: matcher(r),
    resourceVersion: url.searchParams.get('resourceVersion') ?? undefined,
    sendInitialEvents: url.searchParams.get('sendInitialEvents') === 'true',
    allowBookmarks: url.searchParams.get('allowWatchBookmarks') === 'true',
    timeoutSeconds: timeout === null ? undefined : Number(timeout),
    encode: (object) => (table ? toTable(kind.kind, [object], includeObject(url), ctx.now(), {}) : object),
    initialObjects: () => ctx.registry.list(kind, r.info.namespace),
  }, r.req, r.res);
}

async function deleteOptions(r: ResourceRequest): Promise<DeleteOptions> {
  const body = await readBody(r.req);
  const given = body.length > 0 ? parseJsonObject(body) : {};
  const q = r.url.searchParams;
  let policy = (given.propagationPolicy ?? q.get('propagationPolicy') ?? undefined) as PropagationPolicy | undefined;
  if (given.orphanDependents === true || q.get('orphanDependents') === 'true') policy = 'Orphan';
  if (policy !== undefined && !['Background', 'Foreground', 'Orphan'].includes(policy)) {
    throw badRequest(`propagationPolicy: Unsupported value: "${String(policy)}": supported values: "Foreground", "Background", "Orphan"`);
  }
  const bodyDryRun = Array.isArray(given.dryRun) && given.dryRun.includes('All');
  const grace = given.gracePeriodSeconds ?? q.get('gracePeriodSeconds') ?? undefined;
  if (grace !== undefined && !/^-?\d+$/.test(String(grace))) throw badRequest(`gracePeriodSeconds: Invalid value: "${String(grace)}": must be an integer`);
  return {
    propagationPolicy: policy, preconditions: given.preconditions as DeleteOptions['preconditions'], dryRun: dryRun(r.url) || bodyDryRun,
    gracePeriodSeconds: grace === undefined ? undefined : Number(grace),
  };
}

async function handleMain(r: ResourceRequest): Promise<void> {
  const { ctx, info, kind, res } = r;
  const ns = kind.namespaced ? info.namespace : undefined;
  if (info.name === undefined && kind.namespaced && info.namespace !== undefined && (info.verb === 'create' || info.verb === 'deletecollection' || info.verb === 'list')) {
    if (!ctx.registry.find(findKind('', 'v1', 'namespaces') as KindInfo, undefined, info.namespace) && info.verb === 'create') {
      throw notFound('', 'namespaces', info.namespace);
    }
  }
  switch (info.verb) {
    case 'get':
      sendJson(res, 200, encodeObject(r, ctx.registry.get(kind, ns, info.name ?? '')));
      return;
    case 'list':
      listObjects(r);
      return;
    case 'watch':
      watchObjects(r);
      return;
    case 'create': {
      if (info.name !== undefined) throw methodNotAllowed(`the server does not allow this method on the requested resource`);
      requireJson(r.req);
      const body = parseJsonObject(await readBody(r.req), r.req.headers['content-type']);
      setWarningHeaders(res, admitPodSecurity(ctx.store, kind, ns, body, 'create').warnings);
      sendJson(res, 201, ctx.registry.create(kind, ns, body, { dryRun: dryRun(r.url) }));
      return;
    }
    case 'update': {
      requireJson(r.req);
      const body = parseJsonObject(await readBody(r.req), r.req.headers['content-type']);
      setWarningHeaders(res, admitPodSecurity(ctx.store, kind, ns, body, 'update').warnings);
      sendJson(res, 200, ctx.registry.update(kind, ns, info.name ?? '', body, { dryRun: dryRun(r.url) }));
      return;
    }
    case 'patch': {
      const patched = await patchObject(r, undefined);
      setWarningHeaders(res, admitPodSecurity(ctx.store, kind, ns, patched, 'update').warnings);
      sendJson(res, 200, patched);
      return;
    }
    case 'delete':
      sendJson(res, 200, ctx.registry.delete(kind, ns, info.name ?? '', await deleteOptions(r)));
      return;
    case 'deletecollection': {
      const options = await deleteOptions(r);
      const matches = matcher(r);
      const deleted = ctx.registry.list(kind, ns).filter(matches)
        .map((object) => ctx.registry.find(kind, object.metadata.namespace, object.metadata.name ?? '') && ctx.registry.delete(kind, object.metadata.namespace, object.metadata.name ?? '', options))
        .filter((o): o is K8sObject => Boolean(o));
      sendJson(res, 200, { kind: kind.listKind, apiVersion: apiVersionOf(kind), metadata: { resourceVersion: String(ctx.store.currentRevision) }, items: deleted });
      return;
    }
    default:
      throw methodNotAllowed(`the server does not allow this method on the requested resource`);
  }
}

async function patchObject(r: ResourceRequest, subresource: 'status' | undefined): Promise<K8sObject> {
  const { ctx, info, kind } = r;
  const ns = kind.namespaced ? info.namespace : undefined;
  const previous = ctx.registry.get(kind, ns, info.name ?? '');
  const body = await readBody(r.req);
  const patched = applyPatch(r.req.headers['content-type'] ?? '', previous, body) as K8sObject;
  const givenRv = patched.metadata?.resourceVersion;
  if (givenRv !== undefined && givenRv !== previous.metadata.resourceVersion) {
    return ctx.registry.update(kind, ns, info.name ?? '', patched, { subresource, dryRun: dryRun(r.url) });
  }
  const next = { ...patched, metadata: { ...(patched.metadata ?? {}), resourceVersion: previous.metadata.resourceVersion } } as K8sObject;
  return ctx.registry.update(kind, ns, info.name ?? '', next, { subresource, dryRun: dryRun(r.url) });
}

async function handleStatus(r: ResourceRequest): Promise<void> {
  const { ctx, info, kind, res } = r;
  if (!kind.hasStatus) throw notFound(kind.group, `${kind.resource}/status`, info.name ?? '');
  const ns = kind.namespaced ? info.namespace : undefined;
  switch (info.verb) {
    case 'get':
      sendJson(res, 200, ctx.registry.get(kind, ns, info.name ?? ''));
      return;
    case 'update': {
      requireJson(r.req);
      const body = parseJsonObject(await readBody(r.req), r.req.headers['content-type']);
      sendJson(res, 200, ctx.registry.update(kind, ns, info.name ?? '', body, { subresource: 'status', dryRun: dryRun(r.url) }));
      return;
    }
    case 'patch':
      sendJson(res, 200, await patchObject(r, 'status'));
      return;
    default:
      throw methodNotAllowed('the server does not allow this method on the requested resource');
  }
}

async function handleFinalize(r: ResourceRequest): Promise<void> {
  if (r.info.verb !== 'update') throw methodNotAllowed('the server does not allow this method on the requested resource');
  const body = parseJsonObject(await readBody(r.req), r.req.headers['content-type']);
  const previous = r.ctx.registry.get(r.kind, undefined, r.info.name ?? '');
  const next = structuredClone(previous);
  next.spec = { ...((previous.spec as object | undefined) ?? {}), finalizers: (body.spec as { finalizers?: string[] } | undefined)?.finalizers ?? [] };
  sendJson(r.res, 200, r.ctx.registry.commitUpdate(r.kind, previous, next));
}

export async function handleResourceRequest(r: ResourceRequest): Promise<void> {
  const { info, kind } = r;
  if (kind.virtual) {
    if (info.verb !== 'create') throw methodNotAllowed('the server does not allow this method on the requested resource');
    sendJson(r.res, 201, handleReview(r.ctx, kind, r.user, info.namespace, parseJsonObject(await readBody(r.req), r.req.headers['content-type'])));
    return;
  }
  const sub = info.subresource;
  if (sub === undefined) {
    if (!kind.verbs.includes(info.verb as never)) throw methodNotAllowed('the server does not allow this method on the requested resource');
    await handleMain(r);
    return;
  }
  if (info.name === undefined || !kind.subresources.includes(sub as never)) {
    throw new ApiStatusError(404, 'NotFound', 'the server could not find the requested resource');
  }
  switch (sub) {
    case 'status': return handleStatus(r);
    case 'scale': return handleScale(r);
    case 'log': return handlePodLog(r);
    case 'token': return handleTokenRequest(r);
    case 'binding': return handleBinding(r);
    case 'finalize': return handleFinalize(r);
    case 'exec':
    case 'portforward':
      throw badRequest('Upgrade request required');
    default:
      throw new ApiStatusError(404, 'NotFound', 'the server could not find the requested resource');
  }
}

export { dryRun, requireJson };
